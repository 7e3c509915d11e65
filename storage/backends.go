package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aptsnap/aptsnap/blob/s3"
	"github.com/aptsnap/aptsnap/config"
)

// S3Credentials returns the access key and secret the [store] section
// leads to: the credentials file when set, else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY in the environment. A credentials file others may
// read is refused.
func S3Credentials(sc config.StoreConfig) (access, secret string, err error) {
	if sc.CredentialsFile == "" {
		return os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), nil
	}
	f, err := os.Open(sc.CredentialsFile)
	if err != nil {
		return "", "", fmt.Errorf("[store] credentials_file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("[store] credentials_file %s may be read by others (mode %v): chmod 600 it", sc.CredentialsFile, st.Mode().Perm())
	}
	sc2 := bufio.NewScanner(f)
	for sc2.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc2.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(strings.TrimPrefix(k, "export ")) {
		case "AWS_ACCESS_KEY_ID":
			access = v
		case "AWS_SECRET_ACCESS_KEY":
			secret = v
		}
	}
	if err := sc2.Err(); err != nil {
		return "", "", err
	}
	if access == "" || secret == "" {
		return "", "", fmt.Errorf("[store] credentials_file %s: want AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines", sc.CredentialsFile)
	}
	return access, secret, nil
}

// openS3 opens the S3 store the [store] section describes.
func openS3(ctx context.Context, sc config.StoreConfig) (*s3.Store, error) {
	access, secret, err := S3Credentials(sc)
	if err != nil {
		return nil, err
	}
	o := s3.Options{Endpoint: sc.S3Endpoint, Secure: !strings.HasPrefix(sc.S3Endpoint, "http://"), Region: sc.S3Region,
		Bucket: sc.S3Bucket, Prefix: sc.S3Prefix, AccessKey: access, SecretKey: secret}
	st, err := s3.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("[store] %s bucket %s: %w", sc.S3Endpoint, sc.S3Bucket, err)
	}
	return st, nil
}
