//go:build !amd64 || purego

package infer

// Elsewhere (or with -tags purego) cmacPlanar and dot stay in Go.
