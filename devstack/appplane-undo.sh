#!/bin/sh
# Removes what appplane-deploy.sh rendered for the tenant.
set -eu
rm -rf "${APPPLANE_DIR:?the agent passes it: --pass-env APPPLANE_DIR}/$TENANT_KEY"
