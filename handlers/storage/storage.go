// Package storage is the storage step's back ends: an S3 bucket per tenant,
// or a local directory, with their undo and probes.
package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
	"github.com/tenantflow/tenantflow/domain"
	"github.com/tenantflow/tenantflow/handlers/step"
)

// BucketName is the tenant's bucket, tenant-<key>.
func BucketName(t *domain.Tenant) string { return "tenant-" + t.Key() }

// tenantTag marks a bucket as a tenant's.
const tenantTag = "tenantflow-tenant"

// S3 is the storage step on any S3-compatible server (minio-go): bucket
// tenant-<key>, tagged with the tenant id. A bucket with our tag is done; one
// tagged for another tenant, or untagged with objects in it, is someone
// else's (a permanent failure); an untagged empty one is our own creation
// interrupted before tagging, and is claimed. Undo empties and deletes it.
type S3 struct {
	Client *minio.Client
	Region string
}

// owner reports ours / foreign / absent.
func (s S3) owner(ctx context.Context, t *domain.Tenant) (exists, ours bool, err error) {
	b := BucketName(t)
	exists, err = s.Client.BucketExists(ctx, b)
	if err != nil || !exists {
		return exists, false, s3Classify("look up bucket "+b, err)
	}
	tg, err := s.Client.GetBucketTagging(ctx, b)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchTagSet" && minio.ToErrorResponse(err).Code != "NoSuchTagSetError" {
		return true, false, s3Classify("read tags of "+b, err)
	}
	if tg != nil {
		if id, ok := tg.ToMap()[tenantTag]; ok {
			return true, id == t.ID(), nil
		}
	}
	listCtx, stop := context.WithCancel(ctx) // stops the lister after the first answer
	defer stop()
	obj, found := <-s.Client.ListObjects(listCtx, b, minio.ListObjectsOptions{MaxKeys: 1})
	switch {
	case found && obj.Err != nil:
		return true, false, s3Classify("list "+b, obj.Err)
	case found:
		return true, false, nil // untagged with objects: not ours
	}
	return true, true, nil // untagged and empty: ours, interrupted before tagging
}

func s3Classify(action string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", action, err)
	if code := minio.ToErrorResponse(err).StatusCode; code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return step.Permanent(err)
	}
	return err
}

// makeBucket creates the tenant's bucket. "Already exists" (409: a twin of
// this step won a race, or an earlier try was cut off before tagging) means
// look again: a bucket that is ours (our tag, or untagged and empty) is
// done; anyone else's is a permanent failure, and is not touched.
func (s S3) makeBucket(ctx context.Context, t *domain.Tenant) error {
	b := BucketName(t)
	err := s.Client.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: s.Region})
	if code := minio.ToErrorResponse(err).Code; err == nil || code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
		return s3Classify("create bucket "+b, err)
	}
	exists, ours, err := s.owner(ctx, t)
	switch {
	case err != nil:
		return err
	case !exists:
		return fmt.Errorf("create bucket %s: reported to exist, then not found: trying again", b)
	case !ours:
		return step.Foreign("bucket " + b)
	}
	return nil
}

func (s S3) Do(ctx context.Context, t *domain.Tenant) (step.Result, error) {
	b := BucketName(t)
	exists, ours, err := s.owner(ctx, t)
	if err != nil {
		return step.Result{}, err
	}
	if exists && !ours {
		return step.Result{}, step.Foreign("bucket " + b)
	}
	if !exists {
		if err := s.makeBucket(ctx, t); err != nil {
			return step.Result{}, err
		}
	}
	tg, err := tags.NewTags(map[string]string{tenantTag: t.ID()}, false)
	if err != nil {
		return step.Result{}, step.Permanent(err)
	}
	if err := s.Client.SetBucketTagging(ctx, b, tg); err != nil {
		return step.Result{}, s3Classify("tag bucket "+b, err)
	}
	return step.Result{Resources: []domain.Resource{{Step: domain.StepStorage, Kind: "s3-bucket", ID: b, Location: s.Client.EndpointURL().String()}}}, nil
}

func (s S3) Undo(ctx context.Context, t *domain.Tenant) error {
	b := BucketName(t)
	exists, ours, err := s.owner(ctx, t)
	if err != nil || !exists || !ours {
		return err
	}
	objects := make(chan minio.ObjectInfo)
	go func() {
		defer close(objects)
		for obj := range s.Client.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				objects <- obj
			}
		}
	}()
	var failed error
	for rerr := range s.Client.RemoveObjects(ctx, b, objects, minio.RemoveObjectsOptions{}) {
		failed = errors.Join(failed, rerr.Err)
	}
	if failed != nil {
		return s3Classify("empty bucket "+b, failed)
	}
	if err := s.Client.RemoveBucket(ctx, b); err != nil && minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		return s3Classify("delete bucket "+b, err)
	}
	return nil
}

// LocalStorage is the embedded storage back end: a directory per tenant
// (tenant-<key>) under Root, marked with a file naming the tenant id.
type LocalStorage struct {
	Root string
}

const localMark = ".tenantflow-tenant"

func (l LocalStorage) Do(_ context.Context, t *domain.Tenant) (step.Result, error) {
	dir := filepath.Join(l.Root, BucketName(t))
	mark, err := os.ReadFile(filepath.Join(dir, localMark))
	switch {
	case err == nil && string(mark) != t.ID():
		return step.Result{}, step.Foreign("directory " + dir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return step.Result{}, err
	case err != nil:
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return step.Result{}, step.Foreign("directory " + dir + " (files and no tenant mark)")
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return step.Result{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, localMark), []byte(t.ID()), 0o640); err != nil {
			return step.Result{}, err
		}
	}
	return step.Result{Resources: []domain.Resource{{Step: domain.StepStorage, Kind: "local-directory", ID: dir, Location: "file://" + l.Root}}}, nil
}

func (l LocalStorage) Undo(_ context.Context, t *domain.Tenant) error {
	dir := filepath.Join(l.Root, BucketName(t))
	mark, err := os.ReadFile(filepath.Join(dir, localMark))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(mark) != t.ID() {
		return nil // someone else's
	}
	return os.RemoveAll(dir)
}

func (s S3) Probe(ctx context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	exists, ours, err := s.owner(ctx, t)
	if err != nil || !exists || !ours {
		return nil, err
	}
	return []domain.Resource{{Step: domain.StepStorage, Kind: "s3-bucket", ID: BucketName(t)}}, nil
}

func (l LocalStorage) Probe(_ context.Context, t *domain.Tenant) ([]domain.Resource, error) {
	dir := filepath.Join(l.Root, BucketName(t))
	if mark, err := os.ReadFile(filepath.Join(dir, localMark)); err == nil && string(mark) == t.ID() {
		return []domain.Resource{{Step: domain.StepStorage, Kind: "local-directory", ID: dir}}, nil
	}
	return nil, nil
}
