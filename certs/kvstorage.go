package certs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/aptsnap/aptsnap/catalog"
)

// KVStorage is a certmagic.Storage on the catalog's key-value store: the
// ACME account, certificates, keys and challenge tokens of servers sharing
// one catalog, so that they issue once and any of them answers a
// challenge. Its locks are leases in the catalog, renewed while held: a
// server that dies holding one frees it within LockTTL.
type KVStorage struct {
	kv    catalog.KV
	log   *slog.Logger
	owner string // this process's name for its leases

	mu    sync.Mutex
	held  map[string]context.CancelFunc // lock name -> stops its renewal
	poll  time.Duration
	lease time.Duration
}

// LockTTL is how long a lock outlives a server that died holding it.
const LockTTL = 2 * time.Minute

var _ certmagic.Storage = (*KVStorage)(nil)

// NewKVStorage returns the storage on kv.
func NewKVStorage(kv catalog.KV, log *slog.Logger) *KVStorage {
	b := make([]byte, 8)
	rand.Read(b)
	return &KVStorage{kv: kv, log: log, owner: hex.EncodeToString(b), held: map[string]context.CancelFunc{},
		poll: time.Second, lease: LockTTL}
}

const kvPrefix = "acme/"

func kvKey(key string) string { return kvPrefix + strings.Trim(key, "/") }

// Store implements certmagic.Storage.
func (s *KVStorage) Store(ctx context.Context, key string, value []byte) error {
	return s.kv.KVPut(ctx, kvKey(key), value)
}

// Load implements certmagic.Storage.
func (s *KVStorage) Load(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.kv.KVGet(ctx, kvKey(key))
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return v, err
}

// Delete implements certmagic.Storage.
func (s *KVStorage) Delete(ctx context.Context, key string) error {
	if !s.Exists(ctx, key) {
		return fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return s.kv.KVDelete(ctx, kvKey(key))
}

// Exists implements certmagic.Storage: a key, or a directory of keys.
func (s *KVStorage) Exists(ctx context.Context, key string) bool {
	if _, _, err := s.kv.KVGet(ctx, kvKey(key)); err == nil {
		return true
	}
	keys, err := s.kv.KVList(ctx, kvKey(key)+"/")
	return err == nil && len(keys) > 0
}

// List implements certmagic.Storage.
func (s *KVStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	prefix := kvKey(dir) + "/"
	if strings.Trim(dir, "/") == "" {
		prefix = kvPrefix
	}
	keys, err := s.kv.KVList(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, fs.ErrNotExist)
	}
	var out []string
	for _, k := range keys {
		rel := strings.TrimPrefix(k, prefix)
		if !recursive {
			rel, _, _ = strings.Cut(rel, "/")
		}
		name := path.Join(strings.Trim(dir, "/"), rel)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *KVStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	v, mod, err := s.kv.KVGet(ctx, kvKey(key))
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(v)), IsTerminal: true}, nil
	}
	if !errors.Is(err, catalog.ErrNotFound) {
		return certmagic.KeyInfo{}, err
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
}

// Lock implements certmagic.Locker: it waits for the lease, then renews it
// until Unlock.
func (s *KVStorage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.kv.KVLock(ctx, kvKey(name), s.owner, s.lease)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.poll):
		}
	}
	rctx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	if old, ok := s.held[name]; ok {
		old()
	}
	s.held[name] = stop
	s.mu.Unlock()
	go func() {
		t := time.NewTicker(s.lease / 4)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if ok, err := s.kv.KVLock(rctx, kvKey(name), s.owner, s.lease); err != nil || !ok {
					if rctx.Err() == nil {
						s.log.Warn("acme storage: lock lease not renewed", "lock", name, "err", err)
					}
				}
			}
		}
	}()
	return nil
}

// Unlock implements certmagic.Locker.
func (s *KVStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if stop, ok := s.held[name]; ok {
		stop()
		delete(s.held, name)
	}
	s.mu.Unlock()
	return s.kv.KVUnlock(ctx, kvKey(name), s.owner)
}
