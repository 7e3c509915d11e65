package main

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestReadAnswer(t *testing.T) {
	body := strings.Repeat("x", 200<<10) // over three reads of the 64 kB buffer
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 204800\r\n\r\n"
	tests := []struct {
		name       string
		in         string
		wantN      int64
		wantStatus int
		wantErr    string
	}{
		{"a whole answer", head + body, int64(len(head) + len(body)), 200, ""},
		{"two answers, the first read alone", head + body + head, int64(len(head) + len(body)), 200, ""},
		{"a 404 with its body", "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno\n", 24 + 19 + 2 + 3, 404, ""},
		{"a short body", head + body[:1000], int64(len(head) + 1000), 200, "EOF"},
		{"no Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, 200, "without a Content-Length"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, 0, "not an HTTP/1 status line"},
		{"a bad status", "HTTP/1.1 abc OK\r\n\r\n", 0, 0, "status line"},
		{"a negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, 200, "Content-Length"},
		{"cut in the header", "HTTP/1.1 200 OK\r\nContent-Len", 0, 200, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 64<<10)
			n, status, err := readAnswer(br, make([]byte, 64<<10))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.wantN || status != tt.wantStatus {
				t.Fatalf("readAnswer = %d, %d, %v; want %d, %d, nil", n, status, err, tt.wantN, tt.wantStatus)
			}
		})
	}
}

func TestLatencies(t *testing.T) {
	var r result
	for i := 1; i <= 100; i++ {
		r.lat = append(r.lat, time.Duration(i)*time.Millisecond)
	}
	mean, p50, p99 := r.latencies()
	if mean != 50500 || p50 != 51000 || p99 != 100000 {
		t.Errorf("latencies = %v, %d, %d; want 50500, 51000, 100000 µs", mean, p50, p99)
	}
}
