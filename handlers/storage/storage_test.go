package storage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// The bucket is made, tagged, found again, refused to another tenant, and
// emptied and deleted by the undo — on a real S3 server (versitygw).
func TestS3BucketOnRealServer(t *testing.T) {
	s := devsteps.S3(t)
	ctx := context.Background()
	tn := testenv.NewTenant(t, testenv.UniqueKey("s"))
	t.Cleanup(func() { _ = s.Undo(context.Background(), tn) })
	for range 2 {
		if res, err := s.Do(ctx, tn); err != nil || len(res.Resources) != 1 || res.Resources[0].ID != "tenant-"+tn.Key() {
			t.Fatalf("do: %+v %v", res, err)
		}
	}
	tg, err := s.Client.GetBucketTagging(ctx, storage.BucketName(tn))
	if err != nil || tg.ToMap()["tenantflow-tenant"] != tn.ID() {
		t.Fatalf("tags %v %v", tg, err)
	}
	if _, err := s.Client.PutObject(ctx, storage.BucketName(tn), "a/b.txt", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another tenant with the same key (a different id) is refused.
	impostor, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: tn.Key(), Name: "I",
		Contact: domain.Contact{Email: "i@example.com", FirstName: "I", LastName: "I"}})
	if _, err := s.Do(ctx, impostor); !step.IsPermanent(err) {
		t.Fatalf("foreign bucket: %v", err)
	}
	if err := s.Undo(ctx, impostor); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Client.BucketExists(ctx, storage.BucketName(tn)); !ok {
		t.Fatal("another tenant's undo deleted the bucket")
	}
	if err := s.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Client.BucketExists(ctx, storage.BucketName(tn)); ok || err != nil {
		t.Fatalf("bucket still there after undo: %v", err)
	}
}

func TestLocalStorage(t *testing.T) {
	l := storage.LocalStorage{Root: t.TempDir()}
	ctx := context.Background()
	tn := testenv.NewTenant(t, testenv.UniqueKey("l"))
	if _, err := l.Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Do(ctx, tn); err != nil {
		t.Fatalf("second run: %v", err)
	}
	dir := filepath.Join(l.Root, "tenant-"+tn.Key())
	impostor, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: tn.Key(), Name: "I",
		Contact: domain.Contact{Email: "i@example.com", FirstName: "I", LastName: "I"}})
	if _, err := l.Do(ctx, impostor); !step.IsPermanent(err) {
		t.Fatalf("foreign directory: %v", err)
	}
	if err := l.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
}
