// Package configs is the daemon's typed configuration: the schema (Config and its blocks), the
// strict YAML decoder (Load, Parse) and the checks (Validate), plus the example configs sim.yaml
// (the whole rig on one machine, no hardware) and rig.yaml (annotated template for a real rig).
//
// Decoding is strict: an unknown field is an error, durations carry their unit ("8.33ms") and
// frequencies theirs ("120Hz"). Every problem in a file is reported at once, each with its field
// path ("display.refresh", "models[1].file") and line. Relative paths in a file are relative to
// the file's folder. Load is called once at start-up, from any goroutine; a Config is read-only
// after that and safe to share.
package configs
