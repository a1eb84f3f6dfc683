// Package stimulus makes the frames the retina sees (frame sources, deterministic from a seed)
// and presents them on the rig monitor through OpenGL. Frames are float32 contrast on the
// stimulus grid, row-major, row 0 at the top. It knows nothing of NATS or models.
package stimulus
