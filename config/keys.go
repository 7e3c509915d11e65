package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// unknownKeys says, for each key the file sets that aptsnap does not
// know, where (its lines) and what was perhaps meant.
func unknownKeys(data []byte, und []toml.Key) error {
	lines := strings.Split(string(data), "\n")
	var msgs []string
	seen := map[string]bool{}
	for _, k := range und {
		full := k.String()
		if seen[full] {
			continue
		}
		seen[full] = true
		name, table := k[len(k)-1], strings.Join(k[:len(k)-1], ".")
		at := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(name) + `\s*=`)
		var where []string
		for i, l := range lines {
			if at.MatchString(l) {
				where = append(where, fmt.Sprint(i+1))
			}
		}
		msg := fmt.Sprintf("unknown key %q", name)
		if table != "" {
			msg += " in [" + table + "]"
		}
		if len(where) > 0 {
			msg = "line " + strings.Join(where, ", ") + ": " + msg
		}
		if near := nearest(name, knownKeys(table)); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		msgs = append(msgs, msg)
	}
	slices.Sort(msgs)
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// knownKeys lists the keys of a table ("", "archive", "tls.acme"...).
func knownKeys(table string) []string {
	t := reflect.TypeFor[Config]()
	for _, part := range strings.Split(table, ".") {
		if part == "" {
			continue
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
	}
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// nearest is the known key closest to name, if close enough to be what
// was meant (a third of its letters off, two for a short one), else "".
func nearest(name string, known []string) string {
	best, bestD := "", max(2, len(name)/3)+1
	for _, k := range known {
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
