//go:build !amd64 || purego

package infer

// Elsewhere (or with -tags purego) cmac stays cmacGeneric.
