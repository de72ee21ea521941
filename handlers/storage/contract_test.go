package storage_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/steptest"
)

func TestS3KeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: devsteps.S3(t)})
}

func TestLocalStorageKeepsTheStepContract(t *testing.T) {
	steptest.Run(t, steptest.Subject{Action: storage.LocalStorage{Root: t.TempDir()}})
}
