package handlers_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers"
	"github.com/tenantflow/tenantflow/internal/testenv"
)

func devS3(t *testing.T) handlers.S3 {
	env := testenv.Require(t, "TENANTFLOW_S3_ENDPOINT", "TENANTFLOW_S3_ACCESS_KEY", "TENANTFLOW_S3_SECRET_KEY")
	c, err := minio.New(env["TENANTFLOW_S3_ENDPOINT"], &minio.Options{
		Creds: credentials.NewStaticV4(env["TENANTFLOW_S3_ACCESS_KEY"], env["TENANTFLOW_S3_SECRET_KEY"], "")})
	if err != nil {
		t.Fatal(err)
	}
	return handlers.S3{Client: c, Region: "us-east-1"}
}

func tenantNamed(t *testing.T, prefix string) *domain.Tenant {
	tn, _, err := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: uniqueKey(prefix), Name: "S",
		Contact: domain.Contact{Email: "s@example.com", FirstName: "S", LastName: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// The bucket is made, tagged, found again, refused to another tenant, and
// emptied and deleted by the undo — on a real S3 server (versitygw).
func TestS3BucketOnRealServer(t *testing.T) {
	s := devS3(t)
	ctx := context.Background()
	tn := tenantNamed(t, "s")
	t.Cleanup(func() { _ = s.Undo(context.Background(), tn) })
	for range 2 {
		if res, err := s.Do(ctx, tn); err != nil || len(res.Resources) != 1 || res.Resources[0].ID != "tenant-"+tn.Key() {
			t.Fatalf("do: %+v %v", res, err)
		}
	}
	tg, err := s.Client.GetBucketTagging(ctx, handlers.BucketName(tn))
	if err != nil || tg.ToMap()["tenantflow-tenant"] != tn.ID() {
		t.Fatalf("tags %v %v", tg, err)
	}
	if _, err := s.Client.PutObject(ctx, handlers.BucketName(tn), "a/b.txt", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another tenant with the same key (a different id) is refused.
	impostor, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: tn.Key(), Name: "I",
		Contact: domain.Contact{Email: "i@example.com", FirstName: "I", LastName: "I"}})
	if _, err := s.Do(ctx, impostor); !handlers.IsPermanent(err) {
		t.Fatalf("foreign bucket: %v", err)
	}
	if err := s.Undo(ctx, impostor); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Client.BucketExists(ctx, handlers.BucketName(tn)); !ok {
		t.Fatal("another tenant's undo deleted the bucket")
	}
	if err := s.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Client.BucketExists(ctx, handlers.BucketName(tn)); ok || err != nil {
		t.Fatalf("bucket still there after undo: %v", err)
	}
}

func TestLocalStorage(t *testing.T) {
	l := handlers.LocalStorage{Root: t.TempDir()}
	ctx := context.Background()
	tn := tenantNamed(t, "l")
	if _, err := l.Do(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Do(ctx, tn); err != nil {
		t.Fatalf("second run: %v", err)
	}
	dir := filepath.Join(l.Root, "tenant-"+tn.Key())
	impostor, _, _ := domain.NewTenant(uuid.NewString(), "", domain.TenantInput{Key: tn.Key(), Name: "I",
		Contact: domain.Contact{Email: "i@example.com", FirstName: "I", LastName: "I"}})
	if _, err := l.Do(ctx, impostor); !handlers.IsPermanent(err) {
		t.Fatalf("foreign directory: %v", err)
	}
	if err := l.Undo(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
}
