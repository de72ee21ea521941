#!/bin/sh
# Removes what appplane-deploy.sh rendered for the tenant.
set -eu
rm -rf "${TENANTFLOW_DEVSTACK_APPPLANE_DIR:?}/$TENANT_KEY"
