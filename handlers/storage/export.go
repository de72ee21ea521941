package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/tenantflow/tenantflow/domain"
)

// Export copies every object of the tenant's bucket into dir, keyed by its
// name (tenantctl export-tenant, before an offboarding's purge), and
// returns how many objects and bytes it copied. A key that would leave dir
// (../, an absolute path) is refused, not written.
func (s S3) Export(ctx context.Context, t *domain.Tenant, dir string) (objects int, size int64, err error) {
	b := BucketName(t)
	if _, ours, err := s.owner(ctx, t); err != nil || !ours {
		return 0, 0, cmp.Or(err, fmt.Errorf("bucket %s is not this tenant's (or is gone)", b))
	}
	for obj := range s.Client.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return objects, size, fmt.Errorf("list %s: %w", b, obj.Err)
		}
		path, err := inside(dir, obj.Key)
		if err != nil {
			return objects, size, err
		}
		if err := s.Client.FGetObject(ctx, b, obj.Key, path, minio.GetObjectOptions{}); err != nil {
			return objects, size, fmt.Errorf("get %s/%s: %w", b, obj.Key, err)
		}
		objects, size = objects+1, size+obj.Size
	}
	return objects, size, nil
}

// Export copies the tenant's directory (its mark file apart) into dir.
func (l LocalStorage) Export(_ context.Context, t *domain.Tenant, dir string) (objects int, size int64, err error) {
	root := filepath.Join(l.Root, BucketName(t))
	if mark, err := os.ReadFile(filepath.Join(root, localMark)); err != nil || string(mark) != t.ID() {
		return 0, 0, fmt.Errorf("directory %s is not this tenant's (or is gone)", root)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Dir(p) == root && d.Name() == localMark) {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		to, err := inside(dir, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		n, err := copyFile(p, to)
		objects, size = objects+1, size+n
		return err
	})
	return objects, size, err
}

// inside is dir/key, made ready to write, when it stays inside dir.
func inside(dir, key string) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(key))
	if rel, err := filepath.Rel(dir, p); err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(key) {
		return "", fmt.Errorf("object key %q would be written outside %s: refused", key, dir)
	}
	return p, os.MkdirAll(filepath.Dir(p), 0o750)
}

func copyFile(from, to string) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	return n, errors.Join(err, out.Close())
}
