// Command hostile serves a signed sample upstream that misbehaves in one
// way (see internal/hostile), and writes an aptsnap configuration that
// mirrors it, for measuring what a pulse spends on it (bench/hostile.sh):
//
//	hostile -dir D -mode bomb -size 512   Packages.gz of a few hundred kB decompressing to 512 MiB
//	hostile -dir D -mode endless          every pool file an endless chunked body
//
// It prints the configuration's path, then serves until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/internal/hostile"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

func main() {
	dir := flag.String("dir", "", "directory for the upstream, the data and the configuration")
	mode := flag.String("mode", "bomb", "bomb or endless")
	size := flag.Int64("size", 512, "bomb: MiB the index decompresses to")
	flag.Parse()
	if *dir == "" {
		log.Fatal("hostile: -dir is required")
	}
	key, err := pgp.GenerateKey("Hostile Upstream", "hostile@example.invalid", "ed25519")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := pgp.ParseSigner(key)
	if err != nil {
		log.Fatal(err)
	}
	repo := &repogen.Repo{Dir: filepath.Join(*dir, "upstream"), Origin: "Debian", Label: "Debian", Signer: signer, ByHash: true,
		Suites: []repogen.Suite{{Name: "bookworm", Architectures: []string{"amd64"}, Date: time.Now().Add(-time.Hour),
			Components: map[string][]repogen.Package{"main": {{Name: "hello", Version: "2.10-3", Arch: "amd64"}}}}}}
	if err := repo.Write(); err != nil {
		log.Fatal(err)
	}
	files := http.FileServer(http.Dir(repo.Dir))
	var fault hostile.Fault
	switch *mode {
	case "bomb":
		if err := hostile.Bomb(repo.Dir, "bookworm", "main/binary-amd64", *size<<20, true, signer); err != nil {
			log.Fatal(err)
		}
		fault = func(w http.ResponseWriter, r *http.Request) bool { // only the bomb to read
			if strings.HasSuffix(r.URL.Path, "/Packages") || strings.Contains(r.URL.Path, "/by-hash/") {
				http.NotFound(w, r)
				return true
			}
			return false
		}
	case "endless":
		fault = hostile.Endless(hostile.Suffix(".deb"), nil)
	default:
		log.Fatalf("hostile: unknown mode %q", *mode)
	}
	keyring := filepath.Join(*dir, "keyring.asc")
	if err := os.WriteFile(keyring, signer.PublicKey(), 0o644); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cfg := filepath.Join(*dir, "aptsnap.toml")
	text := fmt.Sprintf("data_dir = %q\n\n[[archive]]\nname = \"debian\"\nurl = \"http://%s\"\nkeyring = %q\nsuites = [\"bookworm\"]\n"+
		"components = [\"main\"]\narchitectures = [\"amd64\"]\n", filepath.Join(*dir, "data"), ln.Addr(), keyring)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg)
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fault(w, r) {
			files.ServeHTTP(w, r)
		}
	})))
}
