package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

// SecretPrefix starts every token secret, so that leaked secrets are easy
// to recognise (and to scan for).
const SecretPrefix = "aptsnap_"

// NewSecret returns a fresh token secret: SecretPrefix then 32 random
// bytes in unpadded base64url.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is what the catalog stores of a secret: its SHA-256.
func HashSecret(s string) blob.Digest { return blob.Sum([]byte(s)) }

// Token describes an API token (never its secret).
type Token struct {
	Name    string       `json:"name"`
	Role    catalog.Role `json:"role"`
	Created time.Time    `json:"created"`
}

// NewToken is a token just created, with its secret: the only time the
// secret is ever shown.
type NewToken struct {
	Secret string `json:"token"`
	Token
}

// TokenOps manage API tokens. LocalTokens implements them on a catalog,
// Client against a server.
type TokenOps interface {
	// CreateToken creates a token with a fresh secret.
	CreateToken(ctx context.Context, name string, role catalog.Role) (NewToken, error)
	// ListTokens lists tokens by name.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken deletes a token (an error wrapping catalog.ErrNotFound if none has that name).
	RevokeToken(ctx context.Context, name string) error
}

// The errors the server answers with 400, 409 and 413 (see errdefs).
var (
	ErrInvalid  = errdefs.ErrInvalid
	ErrExists   = errdefs.ErrExists
	ErrTooLarge = errdefs.ErrTooLarge
)

// ParseRole checks that s names a role.
func ParseRole(s string) (catalog.Role, error) {
	if r := catalog.Role(s); slices.Contains(catalog.Roles, r) {
		return r, nil
	}
	return "", errdefs.Errorf(ErrInvalid, "unknown role %q (want %s, %s or %s)", s, catalog.RoleReleaseManager, catalog.RoleReviewer, catalog.RoleAdmin)
}

// MaxTokenName is the longest a token's name may be.
const MaxTokenName = 64

// LocalTokens implements TokenOps on a catalog: the server uses it, and so
// does the CLI when it works on a configuration directly.
type LocalTokens struct {
	Tokens catalog.Tokens
}

var _ TokenOps = LocalTokens{}

// CreateToken implements TokenOps: it stores only the secret's SHA-256.
func (l LocalTokens) CreateToken(ctx context.Context, name string, role catalog.Role) (NewToken, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return NewToken{}, err
	}
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "/\x00") || len(name) > MaxTokenName ||
		strings.ContainsFunc(name, unicode.IsControl) {
		if len(name) > MaxTokenName {
			name = name[:MaxTokenName] + "…"
		}
		return NewToken{}, errdefs.Errorf(ErrInvalid, "token create: token name %q: want a non-empty name of at most %d characters, without '/' or control characters",
			name, MaxTokenName)
	}
	list, err := l.Tokens.ListTokens(ctx)
	if err != nil {
		return NewToken{}, err
	}
	for _, t := range list {
		if t.Name == name {
			return NewToken{}, errdefs.Errorf(ErrExists, "token create: a token named %q exists already: revoke it first (token revoke %s), or pick another name", name, name)
		}
	}
	secret := NewSecret()
	t, err := l.Tokens.CreateToken(ctx, name, role, HashSecret(secret))
	if err != nil {
		return NewToken{}, err
	}
	return NewToken{Secret: secret, Token: tokenOf(t)}, nil
}

// ListTokens implements TokenOps.
func (l LocalTokens) ListTokens(ctx context.Context) ([]Token, error) {
	list, err := l.Tokens.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Token, len(list))
	for i, t := range list {
		out[i] = tokenOf(t)
	}
	return out, nil
}

// RevokeToken implements TokenOps.
func (l LocalTokens) RevokeToken(ctx context.Context, name string) error {
	err := l.Tokens.RevokeToken(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return errdefs.Errorf(catalog.ErrNotFound, "token revoke: no token named %q (token list shows them)", name)
	}
	return err
}

func tokenOf(t catalog.Token) Token {
	return Token{Name: t.Name, Role: t.Role, Created: t.Created.UTC()}
}
