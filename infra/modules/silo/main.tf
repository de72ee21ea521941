# The silo tier's infrastructure: a tenant of its own. This reference module
# uses only Terraform/OpenTofu built-in resources (terraform_data), so it
# runs without downloading a provider; a real deployment points
# TENANTFLOW_INFRA_MODULES at modules with real providers.

variable "tenant_id" { type = string }
variable "tenant_key" { type = string }
variable "tier" { type = string }
variable "region" { type = string }
# The plan's size and sizeConfig (JSON text), with defaults: a plan
# without a size applies as before.
variable "size" {
  type    = string
  default = ""
}
variable "size_config" {
  type    = string
  default = "{}"
}

resource "terraform_data" "network" {
  input = {
    name   = "net-${var.tenant_key}"
    region = var.region
  }
}

resource "terraform_data" "load_balancer" {
  input = {
    name    = "lb-${var.tenant_key}"
    network = terraform_data.network.output.name
  }
}

output "load_balancer" {
  description = "DNS name of the tenant's entry point; the dns step points the tenant's domains at it."
  value       = "${terraform_data.load_balancer.output.name}.tenants.test"
}

output "network" {
  value = terraform_data.network.output.name
}

# A secret the tenant's infrastructure made (a generated credential, say):
# marked sensitive, it stays in the OpenTofu state and never reaches an event.
output "admin_token" {
  value     = "secret-${terraform_data.network.id}"
  sensitive = true
}

# What the plan's size made of the tenant's entry point (the reference
# module only records it): tenantflow records this output with the step.
output "size" {
  value = jsonencode({ size = var.size, config = jsondecode(var.size_config) })
}
