package infer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"retinad/infer"
	"retinad/infer/infertest"
)

// TestLoadContextRefuses checks that LoadContext refuses, before reading, what is not a regular
// model file of a bounded size, and that no error quotes the file's bytes.
func TestLoadContextRefuses(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.retinad")
	if err := os.WriteFile(big, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.retinad")
	if err := infer.Save(good, infertest.LNModel(1, infertest.Small)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		max        int64
		want       string
	}{
		{"text file", secret, infer.MaxFileBytes, "not a native retinad model file"},
		{"device", "/dev/zero", infer.MaxFileBytes, "a device, want a regular model file"},
		{"fifo", fifo, infer.MaxFileBytes, "a FIFO, want a regular model file"},
		{"folder", dir, infer.MaxFileBytes, "a folder, want a regular model file"},
		{"oversized", big, 1024, "4096 bytes, more than the 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := infer.LoadContext(context.Background(), c.path, c.max)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("got %v, want an error naming %s with %q", err, c.path, c.want)
			}
			if strings.Contains(err.Error(), "root") {
				t.Errorf("error quotes the file's content: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refused after %v, want at once", d)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := infer.LoadContext(ctx, good, infer.MaxFileBytes); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: got %v, want context.Canceled", err)
	}
	if _, err := infer.LoadContext(context.Background(), good, infer.MaxFileBytes); err != nil {
		t.Errorf("a good model: %v", err)
	}
}
