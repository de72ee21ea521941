package storage_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
	"github.com/tenantflow/tenantflow/handlers/storage"
	"github.com/tenantflow/tenantflow/internal/testkit/devsteps"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// "Bucket already exists" means "look again", on the real S3 server: a
// bucket with this tenant's tag, or untagged and empty (an earlier try cut
// off before tagging), is taken as ours; one tagged for another tenant is a
// permanent failure and keeps its tag.
func TestBucketConflictLooksAgain(t *testing.T) {
	s := devsteps.S3(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		tag      func(tn *domain.Tenant) string // "" for none
		wantMine bool
	}{
		{"tagged for this tenant", func(tn *domain.Tenant) string { return tn.ID() }, true},
		{"untagged and empty", func(*domain.Tenant) string { return "" }, true},
		{"tagged for another tenant", func(*domain.Tenant) string { return uuid.NewString() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := testenv.NewTenant(t, testenv.UniqueKey("b"))
			b := storage.BucketName(tn)
			t.Cleanup(func() { _ = s.Client.RemoveBucket(context.Background(), b) })
			if err := s.Client.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: s.Region}); err != nil {
				t.Fatal(err)
			}
			tag := tc.tag(tn)
			if tag != "" {
				tg, _ := tags.NewTags(map[string]string{"tenantflow-tenant": tag}, false)
				if err := s.Client.SetBucketTagging(ctx, b, tg); err != nil {
					t.Fatal(err)
				}
			}
			err := storage.MakeBucket(ctx, s, tn)
			if tc.wantMine && err != nil {
				t.Fatalf("the bucket is ours, yet: %v", err)
			}
			if !tc.wantMine {
				if !step.IsPermanent(err) {
					t.Fatalf("another tenant's bucket: %v, want a permanent failure", err)
				}
				tg, err := s.Client.GetBucketTagging(ctx, b)
				if err != nil || tg.ToMap()["tenantflow-tenant"] != tag {
					t.Fatalf("the other tenant's bucket was touched: tags %v, %v", tg, err)
				}
			}
		})
	}
}
