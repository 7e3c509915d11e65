// Package s3 is the blob.Store in an S3-compatible object store (AWS S3,
// MinIO, Ceph RGW, VersityGW, ...), through minio-go: for installations
// that outgrow one machine, with several stateless servers in front of one
// bucket.
//
// # Key layout
//
// The layout is the local store's, under an optional prefix:
//
//	PREFIX/sha256/ab/abcdef...   one object per digest (the full 64-hex digest, after a 2-hex fan-out)
//	PREFIX/tmp/RANDOM            an upload whose digest was not known in advance, before its copy
//
// The fan-out costs nothing on S3 and keeps directories small on gateways
// that map keys to files (VersityGW's POSIX gateway, MinIO on a file
// system); and because the layouts match, a local store's directory is
// moved to a bucket by copying it as it is (aws s3 sync DIR s3://BUCKET/PREFIX).
//
// # Put
//
// Put reads the body into a part buffer (PartSize bytes, 16 MiB unless
// set), hashing it as it goes; it never reads more than size+1 bytes, and
// nothing becomes visible under a digest unless the content hashed to it
// with the right size:
//
//   - A body that fits in one part is hashed before it is sent: Put checks
//     it, then writes the final key with a single PUT (atomic in S3).
//   - A larger body with its digest given (pool files: every file an
//     upstream index lists) is sent as a multipart upload straight to its
//     final key, part by part while hashing; the upload is completed only
//     if the content matched, and aborted otherwise. An incomplete upload
//     is invisible to readers and listings, so no temporary object and no
//     copy are needed for the common case.
//   - A larger body whose digest is not known is uploaded (multipart) under
//     a temporary key, then copied server-side to its final key (CopyObject,
//     or a multipart ComposeObject above 5 GiB) and the temporary key is
//     deleted.
//
// Spooling to a local file first was the alternative: it would hash before
// uploading, but it needs local disk as big as the largest file and
// doubles the latency of every large Put (download, then upload), which
// is what stateless servers in front of a bucket should not need. Here
// memory is bounded by two parts per Put, and each part is sent while the
// next is read.
//
// Every request carries the SHA-256 of its body in its signature
// (x-amz-content-sha256, SigV4 signed payload), which the server checks
// before accepting it: a single PUT is checked by the server against the
// digest itself, a multipart upload part by part, each part's hash taken
// from the same bytes as the whole file's. Failed uploads are aborted;
// uploads left by writers that died are aborted by CleanTemp, as are
// temporary keys.
//
// Putting content already stored is a HEAD request when its digest is
// given (as for the local store, content without a digest is written
// again, which refreshes its modification time).
//
// # Reading
//
// Open issues one GET and returns a reader that seeks by issuing ranged
// GETs only when a read follows a seek away from where the stream is, so
// that serving a whole file is one request and serving a Range (which
// http.ServeContent answers from Seek and Read) is one or two. Presign
// makes presigned GET URLs, for serving by redirect.
//
// Sync is a no-op: S3 stores an object durably before it answers the PUT
// (or the CompleteMultipartUpload) that wrote it.
//
// Modification times are the server's LastModified: garbage collection
// compares them with the local clock, so the servers' clocks should agree
// with the bucket's to within a second or so.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/aptsnap/aptsnap/blob"
)

// Options configure a Store.
type Options struct {
	// Endpoint is the server: host:port, or a URL (http:// or https://,
	// which then decides Secure; no path).
	Endpoint string
	// Secure selects HTTPS for an Endpoint given as host:port.
	Secure bool
	// Region is the bucket's region; empty asks the server.
	Region string
	Bucket string
	// Prefix is the key prefix the store keeps its objects under ("" for
	// the whole bucket).
	Prefix string
	// AccessKey and SecretKey sign the requests (both empty: anonymous).
	AccessKey, SecretKey string
	// PartSize is the size of a multipart upload's parts, and the size up
	// to which a file is sent with one PUT: 5 MiB to 5 GiB, 16 MiB if 0.
	// A Put in progress holds up to two parts in memory (one being read,
	// one being sent).
	PartSize int64
	// HTTPClient's Transport, if set, carries the requests.
	HTTPClient *http.Client
}

// String describes o without its secret key, so that logging options
// never logs it.
func (o Options) String() string {
	secret := ""
	if o.SecretKey != "" {
		secret = "REDACTED"
	}
	return fmt.Sprintf("{Endpoint:%s Secure:%t Region:%s Bucket:%s Prefix:%s AccessKey:%s SecretKey:%s PartSize:%d}",
		o.Endpoint, o.Secure, o.Region, o.Bucket, o.Prefix, o.AccessKey, secret, o.PartSize)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return "s3.Options" + o.String() }

// LogValue is String, for log/slog.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// Sizes S3 sets.
const (
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	defaultPartSize = 16 << 20
	maxParts        = 10000
)

// maxCopySize is the largest object CopyObject copies: above, Put copies
// with a multipart ComposeObject (a variable, for tests).
var maxCopySize int64 = 5 << 30

// Store is a blob.Store in a bucket.
type Store struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64
	bufs     sync.Pool // *[]byte of partSize
	// pageSize is the number of keys a listing asks for per request (0:
	// the server's default, 1000 for S3); set by tests.
	pageSize int
}

var _ blob.Store = (*Store)(nil)

// Open returns a store in o.Bucket, which must exist.
func Open(ctx context.Context, o Options) (*Store, error) {
	host, secure, err := parseEndpoint(o.Endpoint, o.Secure)
	if err != nil {
		return nil, err
	}
	if o.Bucket == "" {
		return nil, errors.New("blob: s3: no bucket")
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		return nil, errors.New("blob: s3: an access key needs its secret key and the other way round")
	}
	ps := o.PartSize
	if ps == 0 {
		ps = defaultPartSize
	}
	if ps < minPartSize || ps > maxPartSize {
		return nil, fmt.Errorf("blob: s3: part size %d: S3 takes parts of 5 MiB to 5 GiB", ps)
	}
	mo := &minio.Options{Secure: secure, Region: o.Region}
	if o.AccessKey != "" {
		mo.Creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, "")
	} else {
		mo.Creds = credentials.New(&credentials.Static{}) // anonymous
	}
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		mo.Transport = o.HTTPClient.Transport
	}
	client, err := minio.New(host, mo)
	if err != nil {
		return nil, fmt.Errorf("blob: s3: %w", err)
	}
	s := &Store{client: client, core: minio.Core{Client: client}, bucket: o.Bucket, prefix: cleanPrefix(o.Prefix), partSize: ps}
	s.bufs.New = func() any { b := make([]byte, s.partSize); return &b }
	ok, err := client.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: s3: bucket %s at %s: %w", o.Bucket, host, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: s3: bucket %s at %s does not exist", o.Bucket, host)
	}
	return s, nil
}

// parseEndpoint returns the host:port and scheme of an endpoint.
func parseEndpoint(ep string, secure bool) (host string, _ bool, _ error) {
	if ep == "" {
		return "", false, errors.New("blob: s3: no endpoint")
	}
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/@?#") {
			return "", false, errors.New("blob: s3: endpoint: want host:port or a URL")
		}
		return ep, secure, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		// url's errors quote the URL, which may hold credentials.
		return "", false, errors.New("blob: s3: endpoint is not a URL")
	}
	switch {
	case u.User != nil:
		return "", false, errors.New("blob: s3: endpoint: credentials go in AccessKey and SecretKey, not in the URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("blob: s3: endpoint: scheme %q: want http or https", u.Scheme)
	case u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "":
		return "", false, errors.New("blob: s3: endpoint: want a URL with a host and no path (the bucket is set apart)")
	}
	return u.Host, u.Scheme == "https", nil
}

func cleanPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Key returns the object key of digest d.
func (s *Store) Key(d blob.Digest) string {
	h := d.String()
	return s.prefix + "sha256/" + h[:2] + "/" + h
}

// digestOf parses a key Key made; ok is false for any other.
func (s *Store) digestOf(key string) (d blob.Digest, ok bool) {
	rest, found := strings.CutPrefix(key, s.prefix+"sha256/")
	if !found || len(rest) != 3+64 || rest[2] != '/' || rest[:2] != rest[3:5] {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(rest[3:])); err != nil || d.String() != rest[3:] {
		return d, false
	}
	return d, true
}

func (s *Store) tmpPrefix() string { return s.prefix + "tmp/" }

func (s *Store) tmpKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return s.tmpPrefix() + hex.EncodeToString(b)
}

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the store's key prefix: "" or ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// isNotFound reports whether err is S3's answer for a missing object.
func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || (r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket)
}

// wrap returns err, with op, as the store's error: ErrNotFound for a
// missing object of digest d (if not zero), the context's error if it
// ended.
func wrap(ctx context.Context, op string, d blob.Digest, err error) error {
	if !d.IsZero() && isNotFound(err) {
		return fmt.Errorf("%w: %s", blob.ErrNotFound, d)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("blob: s3: %s: %w (%v)", op, cerr, err)
	}
	return fmt.Errorf("blob: s3: %s: %w", op, err)
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, s.Key(d), minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, wrap(ctx, "stat "+d.String(), d, err)
	}
	return blob.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	err := s.client.RemoveObject(ctx, s.bucket, s.Key(d), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return wrap(ctx, "delete "+d.String(), d, err)
	}
	return nil
}

var noOwner = new(bool)

// Walk implements blob.Store, listing the keys under PREFIX/sha256/ a page
// (1000 keys on S3) at a time. ModTime is the object's LastModified.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn stops the walk
	for oi := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix: s.prefix + "sha256/", Recursive: true, MaxKeys: s.pageSize, FetchOwner: noOwner,
	}) {
		if oi.Err != nil {
			return wrap(ctx, "list", blob.Digest{}, oi.Err)
		}
		d, ok := s.digestOf(oi.Key)
		if !ok {
			continue
		}
		if err := fn(blob.Info{Digest: d, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Sync implements blob.Store: it does nothing, as S3 has made an object
// durable before it answers the request that wrote it.
func (s *Store) Sync(ctx context.Context) error { return nil }

// CleanTemp implements blob.Store: it deletes the temporary keys last
// written before t, and aborts the multipart uploads under the store's
// prefix (to temporary or final keys) started before t.
func (s *Store) CleanTemp(ctx context.Context, before time.Time) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix: s.tmpPrefix(), Recursive: true, MaxKeys: s.pageSize, FetchOwner: noOwner,
	}) {
		if oi.Err != nil {
			return wrap(ctx, "list temporary keys", blob.Digest{}, oi.Err)
		}
		if oi.LastModified.Before(before) {
			err := s.client.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{})
			if err != nil && !isNotFound(err) {
				return wrap(ctx, "delete a temporary key", blob.Digest{}, err)
			}
		}
	}
	for _, p := range []string{s.tmpPrefix(), s.prefix + "sha256/"} {
		// Each upload is aborted by its id: RemoveIncompleteUpload would
		// abort every upload to the key, a live writer's too.
		var old []minio.ObjectMultipartInfo
		for u := range s.client.ListIncompleteUploads(lctx, s.bucket, p, true) {
			if u.Err != nil {
				return wrap(ctx, "list incomplete uploads", blob.Digest{}, u.Err)
			}
			if u.Initiated.Before(before) {
				old = append(old, u)
			}
		}
		for _, u := range old {
			err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID)
			if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
				return wrap(ctx, "abort an incomplete upload", blob.Digest{}, err)
			}
		}
	}
	return nil
}

// Presign returns a URL that GETs the file of digest d, without
// credentials, until ttl (1 second to 7 days) has passed: for answering
// a request with a redirect to the bucket. It does not check that the
// file is stored: if it is not, the URL answers 404.
func (s *Store) Presign(ctx context.Context, d blob.Digest, ttl time.Duration) (*url.URL, error) {
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.Key(d), ttl, nil)
	if err != nil {
		return nil, wrap(ctx, "presign "+d.String(), d, err)
	}
	return u, nil
}
