// Package stimulus makes the frames the retina sees: frame sources that are deterministic from a
// seed and need no GL, so that the virtual retina and the trainer's datasets are made from the
// very frames the rig shows. The OpenGL presenter that puts them on the monitor is the
// sub-package stimulus/present.
//
// # Frames and units
//
// A frame is H*W float32 values, row-major, row 0 at the top, in contrast around the stimulus
// mean luminance: the presenter shows luminance mean*(1+c), so c = -1 is black, 0 the mean and
// +1 twice the mean. Every source clips its values to [-1, 1]. Frame i of a source is a pure
// function of (config, i): frames can be drawn in any order, by any number of callers with their
// own Source (a Source is not safe for concurrent use: one goroutine per Source), and drawing a
// frame allocates nothing. New reads files (photographs, movies) once, when it is called.
//
// # Random numbers (reproducible in any language)
//
// All randomness comes from SplitMix64 (Steele, Lea and Flood 2014). With the 64-bit wrapping
// arithmetic of unsigned integers,
//
//	mix(z):  z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
//	         z = (z ^ z>>27) * 0x94D049BB133111EB
//	         return z ^ z>>31
//	next():  state += 0x9E3779B97F4A7C15; return mix(state)
//
// Each use draws from its own stream, whose starting state is
//
//	state = mix(seed ^ mix(tag<<56 | n))
//
// where seed is stimulus.seed, n is a frame or block number (below 2^56), and tag names the use:
// 1 white noise (n = frame), 2 flicker (n = frame), 3 natural-scene photograph choice (n = block),
// 4 natural-scene jitter walk (n = block). From a stream:
//
//   - a uniform u in [0, 1) is (next() >> 11) * 2^-53;
//   - a binary sign is +1 when the top bit of next() is 1, else -1;
//   - a standard normal is Box-Muller with the cosine only: with u1 then u2 uniforms,
//     sqrt(-2 ln(1-u1)) * cos(2 pi u2), computed in float64 and rounded to float32 last.
//
// # Sources (stimulus.kind)
//
//   - gray: every value 0.
//   - whitenoise: a checkerboard of ceil(H/checker) x ceil(W/checker) checkers (the last row and
//     column of checkers are cut by the grid edge). Frame i draws one value per checker from
//     stream (tag 1, n = i), checkers in row-major order: binary = sign*contrast, gaussian =
//     normal*contrast.
//   - flicker: full-field; frame i is one draw from stream (tag 2, n = i), binary or gaussian as
//     above.
//   - flash: +contrast for round(on*frame_rate) frames, then 0 for round(off*frame_rate) frames,
//     repeating from frame 0.
//   - grating: c(x, y, i) = contrast * sin(2 pi ((x cos a - y sin a)/period - speed*i/frame_rate)),
//     with x the column and y the row (pixel indices), a the orientation in degrees
//     counterclockwise on the screen: 0 is vertical bars drifting right, 90 horizontal bars
//     drifting up.
//   - natural: see below.
//   - movie: frame i is slice i of a .npy [T,H,W] float32 array, or of the `stimulus` array of a
//     dataset .npz; with loop, frame i is slice i mod T, else the source has T frames.
//
// # Natural scenes
//
// The photographs of natural.dir (every .png, .jpg and .jpeg, sorted by name; by default the
// real photographs among Debian python3-skimage's sample images, listed in DefaultPhotographs,
// when natural.dir is empty or that folder)
// are each turned to gray (Go's image/color Gray16 conversion: 0.299 R + 0.587 G + 0.114 B of
// the file's values), then scaled by area averaging so that the shorter side is 2*max(H, W)
// stimulus pixels (the grid sees the central half of it, with room to move), then normalised to
// contrast: c = contrast * (p - mean) / std over the scaled photograph, clipped to [-1, 1], where
// contrast is natural.contrast (the RMS contrast of every photograph).
//
// Time is cut into blocks of round(hold*frame_rate) frames. Block b shows photograph
// floor(u*N), u the first uniform of stream (tag 3, n = b), N the number of photographs. Within
// the block, a random walk mimics fixational eye movements: the offset (dx, dy), in stimulus
// pixels, is (0, 0) at the block's first frame; before each later frame it moves by
// (jitter*n1, jitter*n2), n1 then n2 the next two normals of stream (tag 4, n = b), and is then
// clamped to the margin of the scaled photograph. Frame i shows the H x W crop whose top-left
// corner is ((Hs-H)/2 + round(dy), (Ws-W)/2 + round(dx)) (integer division; round half away
// from zero) of the Hs x Ws scaled photograph.
package stimulus
