package mirror

import (
	"strings"
	"testing"
)

func TestNarrow(t *testing.T) {
	got := narrow("all amd64 arm64 i386", []string{"i386", "amd64", "riscv64"})
	if strings.Join(got, " ") != "amd64 i386 riscv64" {
		t.Errorf("narrow = %v", got)
	}
}
