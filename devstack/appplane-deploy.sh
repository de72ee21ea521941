#!/bin/sh
# The dev stack's "application plane": the reference agent runs this per
# tenant. It renders the tenant's configuration into a directory and prints
# the tenant's endpoint (the agent reports the first output line): that
# directory as `make run`'s web server serves it, so tenantctl drift finds
# the deployment live until appplane-undo.sh removes it.
set -eu
dir=${APPPLANE_DIR:?the agent passes it: --pass-env APPPLANE_DIR}/$TENANT_KEY
mkdir -p "$dir"
cat >"$dir/tenant.env" <<CONF
TENANT_ID=$TENANT_ID
TENANT_KEY=$TENANT_KEY
TENANT_TIER=$TENANT_TIER
TENANT_ISOLATION=$TENANT_ISOLATION
TENANT_PIPELINE=$TENANT_PIPELINE
TENANT_SIZE=$TENANT_SIZE
TENANT_SIZE_CONFIG=$TENANT_SIZE_CONFIG
TENANT_DOMAINS=$TENANT_DOMAINS
ATTEMPT=$ATTEMPT
CONF
echo "http://127.0.0.1:${APPPLANE_WEB_PORT:-14080}/$TENANT_KEY/"
