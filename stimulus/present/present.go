package present

import (
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"time"
	"unsafe"

	"github.com/go-gl/gl/v3.3-core/gl"
	"github.com/go-gl/glfw/v3.3/glfw"

	"retinad/clock"
	"retinad/configs"
)

// Pacing says how the presenter holds each frame for its whole number of refreshes.
type Pacing int

const (
	// PaceAuto uses vsync (swap interval = refreshes per frame) for a window with display.vsync
	// on, and falls back to PaceClock when the swaps turn out not to wait (Xvfb, a compositor
	// that ignores the interval); the clock otherwise.
	PaceAuto Pacing = iota
	// PaceClock holds frames on a refresh grid kept from the clock (t0 + k*period, t0 the first
	// flip), as a vsync'd monitor would: a frame is swapped at its due refresh, or at the first
	// refresh after it is drawn, counting the refreshes it missed.
	PaceClock
	// PaceNone swaps as fast as it can (benchmarks).
	PaceNone
)

// Options are the presenter's injected parts; the zero value is the real thing.
type Options struct {
	Clock  clock.Clock  // nil: clock.System
	Log    *slog.Logger // nil: no logging
	Pacing Pacing
	Title  string // window title; "" is "retinad"
	// OnPatch, if set, is called after every flip with its time (Flip.HostNS) and the drive
	// level (0..255, red) of the patch's centre pixel as drawn, read back with glReadPixels
	// before the swap: what a photodiode on the patch would see. Tests light a simulated
	// photodiode with it; it costs a pipeline stall per frame, so the daemon leaves it nil.
	OnPatch func(hostNS int64, drive uint8)
}

// Flip is what Present reports of one frame.
type Flip struct {
	HostNS int64 // host monotonic time (ns) when the buffer swap returned; paced from the clock, the refresh it was shown at
	Patch  uint8 // the photodiode patch in this frame: 1 white, 0 black
	Missed int   // monitor refreshes missed just before this frame (swap times with vsync, else the grid)
}

// Presenter draws stimulus frames on a window or an offscreen target. All of its methods must be
// called from the OS thread that called Open (cmd/retinad's main thread, locked in init).
type Presenter struct {
	log   *slog.Logger
	clock clock.Clock
	pace  Pacing
	vsync bool // pacing by the swap interval (until shown not to work)

	win      *glfwWindow     // window mode
	egl      *eglSurfaceless // offscreen mode
	fbo, rbo uint32          // offscreen framebuffer

	prog, vao, frameTex, lutTex uint32
	gridFBO, gridTex            uint32 // the stimulus through the LUT, one texel per stimulus pixel
	target                      uint32 // framebuffer shown: 0 (the window's) or fbo
	uMode, uLum                 int32
	background                  float32
	blit                        [4]int32 // display.rect in GL's bottom-up coordinates: x0, y0, x1, y1
	patch                       [4]int32 // photodiode patch, bottom-up: x, y, width, height
	clean                       int      // frames left that repaint the whole target (background)

	w, h             int   // stimulus grid
	screenW, screenH int   // target size, pixels
	hold             int64 // ns per stimulus frame: ratio refreshes
	period           int64 // ns per refresh
	ratio            int64 // refreshes per stimulus frame

	level   uint8
	last    int64 // previous flip, 0 before the first
	grid    grid  // the refresh grid clock pacing holds frames to
	fast    int   // consecutive flips faster than half the hold (vsync not waiting)
	frames  uint64
	missed  uint64
	row     []byte                          // readback row swap buffer
	px      []byte                          // the patch's centre pixel, for onPatch (its own array: cgo takes no pointer into the Presenter)
	onPatch func(hostNS int64, drive uint8) // Options.OnPatch
	closed  bool
}

// Open opens the presenter that d describes (mode, monitor, size, rect, gamma, patch) for the
// stimulus grid and frame rate of s, and draws the background. It must be called on the thread
// that will call every other method. The window or context is released by Close.
func Open(d configs.Display, s configs.Stimulus, o Options) (*Presenter, error) {
	p := &Presenter{log: o.Log, clock: o.Clock, pace: o.Pacing, w: s.Width, h: s.Height, onPatch: o.OnPatch}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.clock == nil {
		p.clock = clock.System{}
	}
	if s.Width < 1 || s.Height < 1 {
		return nil, fmt.Errorf("present: stimulus grid %dx%d: want at least 1x1", s.Height, s.Width)
	}
	if d.Refresh <= 0 || s.FrameRate <= 0 {
		return nil, fmt.Errorf("present: display.refresh %v, stimulus.frame_rate %v: want positive rates", d.Refresh, s.FrameRate)
	}
	ratio := float64(d.Refresh) / float64(s.FrameRate)
	if r := math.Round(ratio); r < 1 || math.Abs(ratio-r) > 1e-6 {
		return nil, fmt.Errorf("present: stimulus.frame_rate %v on a %v monitor holds each frame for %.4g refreshes: want a whole number", s.FrameRate, d.Refresh, ratio)
	}
	p.ratio = int64(math.Round(ratio))
	p.period = int64(float64(time.Second) / float64(d.Refresh))
	p.hold = p.ratio * p.period
	p.grid = grid{period: p.period, ratio: p.ratio}
	lut, err := InverseGamma(d.Gamma)
	if err != nil {
		return nil, err
	}
	title := o.Title
	if title == "" {
		title = "retinad"
	}

	switch d.Mode {
	case "window":
		p.win, err = openWindow(d, title)
	case "auto":
		if haveDisplay() {
			if p.win, err = openWindow(d, title); err != nil {
				p.log.Warn("present: no window, drawing offscreen", "err", err)
			}
		}
		if p.win == nil {
			p.egl, err = openEGL()
		}
	case "offscreen":
		p.egl, err = openEGL()
	default:
		err = fmt.Errorf("present: display.mode %q: want window, offscreen or auto", d.Mode)
	}
	if err != nil {
		return nil, err
	}
	if p.win != nil {
		err = gl.InitWithProcAddrFunc(glfw.GetProcAddress)
		p.screenW, p.screenH = p.win.size()
	} else {
		err = gl.InitWithProcAddrFunc(eglProcAddress)
		p.screenW, p.screenH = d.Width, d.Height
	}
	if err != nil {
		p.release()
		return nil, fmt.Errorf("present: loading OpenGL functions: %w", err)
	}
	if err := p.setup(d, s, lut); err != nil {
		p.release()
		return nil, err
	}
	p.log.Info("present: open", "mode", p.Mode(), "gl", gl.GoStr(gl.GetString(gl.VERSION)),
		"renderer", gl.GoStr(gl.GetString(gl.RENDERER)), "size", fmt.Sprintf("%dx%d", p.screenW, p.screenH),
		"refreshes_per_frame", p.ratio, "vsync", p.vsync)
	return p, nil
}

// Mode is "window" or "offscreen".
func (p *Presenter) Mode() string {
	if p.win != nil {
		return "window"
	}
	return "offscreen"
}

// Size is the target's size in pixels (the window's framebuffer, or the offscreen buffer).
func (p *Presenter) Size() (w, h int) { return p.screenW, p.screenH }

// RefreshesPerFrame is the whole number of monitor refreshes each stimulus frame is held for.
func (p *Presenter) RefreshesPerFrame() int { return int(p.ratio) }

func (p *Presenter) setup(d configs.Display, s configs.Stimulus, lut []float32) error {
	r := d.Rect
	if r.X < 0 || r.Y < 0 || r.X+r.Width > p.screenW || r.Y+r.Height > p.screenH {
		return fmt.Errorf("present: display.rect (%d,%d %dx%d) does not fit the %dx%d %s", r.X, r.Y, r.Width, r.Height, p.screenW, p.screenH, p.Mode())
	}
	if r.Width%s.Width != 0 || r.Height%s.Height != 0 || r.Width < s.Width || r.Height < s.Height {
		return fmt.Errorf("present: display.rect %dx%d is not a whole multiple of the %dx%d stimulus grid", r.Width, r.Height, s.Width, s.Height)
	}
	ps := d.Patch.Size
	if ps < 1 || ps > p.screenW || ps > p.screenH {
		return fmt.Errorf("present: display.patch.size %d: want 1 to %d pixels", ps, min(p.screenW, p.screenH))
	}
	px, py := 0, 0
	switch d.Patch.Corner {
	case "top-left":
	case "top-right":
		px = p.screenW - ps
	case "bottom-left":
		py = p.screenH - ps
	case "bottom-right":
		px, py = p.screenW-ps, p.screenH-ps
	default:
		return fmt.Errorf("present: display.patch.corner %q: want top-left, top-right, bottom-left or bottom-right", d.Patch.Corner)
	}

	if p.egl != nil {
		gl.GenFramebuffers(1, &p.fbo)
		gl.BindFramebuffer(gl.FRAMEBUFFER, p.fbo)
		gl.GenRenderbuffers(1, &p.rbo)
		gl.BindRenderbuffer(gl.RENDERBUFFER, p.rbo)
		gl.RenderbufferStorage(gl.RENDERBUFFER, gl.RGBA8, int32(p.screenW), int32(p.screenH))
		gl.FramebufferRenderbuffer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.RENDERBUFFER, p.rbo)
		if st := gl.CheckFramebufferStatus(gl.FRAMEBUFFER); st != gl.FRAMEBUFFER_COMPLETE {
			return fmt.Errorf("present: glCheckFramebufferStatus: offscreen framebuffer incomplete (0x%x)", st)
		}
		if err := glCheck("glFramebufferRenderbuffer"); err != nil {
			return err
		}
	}
	var err error
	if p.prog, err = program(vertexShader, fragmentShader); err != nil {
		return err
	}
	gl.UseProgram(p.prog)
	gl.GenVertexArrays(1, &p.vao)
	gl.BindVertexArray(p.vao)
	if err := glCheck("glBindVertexArray"); err != nil {
		return err
	}

	gl.PixelStorei(gl.UNPACK_ALIGNMENT, 4)
	gl.PixelStorei(gl.PACK_ALIGNMENT, 4)
	p.frameTex = texture(gl.TEXTURE0, s.Width, s.Height, nil)
	p.lutTex = texture(gl.TEXTURE1, len(lut), 1, lut)
	gl.ActiveTexture(gl.TEXTURE0)
	gl.BindTexture(gl.TEXTURE_2D, p.frameTex)
	if err := glCheck("glTexImage2D(R32F)"); err != nil {
		return err
	}

	// The grid framebuffer: the stimulus through the LUT, one texel per stimulus pixel.
	gl.GenTextures(1, &p.gridTex)
	gl.ActiveTexture(gl.TEXTURE2)
	gl.BindTexture(gl.TEXTURE_2D, p.gridTex)
	gl.TexImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, int32(s.Width), int32(s.Height), 0, gl.RGBA, gl.UNSIGNED_BYTE, nil)
	gl.ActiveTexture(gl.TEXTURE0)
	gl.GenFramebuffers(1, &p.gridFBO)
	gl.BindFramebuffer(gl.FRAMEBUFFER, p.gridFBO)
	gl.FramebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, p.gridTex, 0)
	if st := gl.CheckFramebufferStatus(gl.FRAMEBUFFER); st != gl.FRAMEBUFFER_COMPLETE {
		return fmt.Errorf("present: glCheckFramebufferStatus: stimulus grid framebuffer incomplete (0x%x)", st)
	}
	p.target = p.fbo
	gl.BindFramebuffer(gl.FRAMEBUFFER, p.target)
	if err := glCheck("glFramebufferTexture2D"); err != nil {
		return err
	}

	u := func(name string) int32 { return gl.GetUniformLocation(p.prog, gl.Str(name+"\x00")) }
	gl.Uniform1i(u("frame"), 0)
	gl.Uniform1i(u("lut"), 1)
	gl.Uniform1i(u("lutSize"), int32(len(lut)))
	gl.Uniform2i(u("grid"), int32(s.Width), int32(s.Height))
	gl.Uniform1f(u("mean"), float32(s.Mean))
	p.uMode, p.uLum = u("mode"), u("lum")
	if err := glCheck("glUniform"); err != nil {
		return err
	}
	gl.Disable(gl.DITHER)
	p.background = float32(d.Background)
	p.blit = [4]int32{int32(r.X), int32(p.screenH - r.Y - r.Height), int32(r.X + r.Width), int32(p.screenH - r.Y)}
	p.patch = [4]int32{int32(px), int32(p.screenH - py - ps), int32(ps), int32(ps)}
	p.clean = cleanFrames

	if p.win != nil {
		p.vsync = d.VSync && p.pace == PaceAuto
		interval := 0
		if p.vsync {
			interval = int(p.ratio)
		}
		glfw.SwapInterval(interval)
	}
	p.row = make([]byte, 4*p.screenW)
	p.px = make([]byte, 4)
	return nil
}

// texture makes an R32F texture of w x h texels on unit with nearest sampling.
func texture(unit uint32, w, h int, data []float32) uint32 {
	var t uint32
	gl.GenTextures(1, &t)
	gl.ActiveTexture(unit)
	gl.BindTexture(gl.TEXTURE_2D, t)
	gl.TexParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST)
	gl.TexParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST)
	gl.TexParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE)
	gl.TexParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE)
	var ptr unsafe.Pointer
	if data != nil {
		ptr = unsafe.Pointer(&data[0])
	}
	gl.TexImage2D(gl.TEXTURE_2D, 0, gl.R32F, int32(w), int32(h), 0, gl.RED, gl.FLOAT, ptr)
	return t
}

func program(vs, fs string) (uint32, error) {
	compile := func(kind uint32, src, name string) (uint32, error) {
		sh := gl.CreateShader(kind)
		cs, free := gl.Strs(src)
		gl.ShaderSource(sh, 1, cs, nil)
		free()
		gl.CompileShader(sh)
		var ok int32
		gl.GetShaderiv(sh, gl.COMPILE_STATUS, &ok)
		if ok == gl.FALSE {
			return 0, fmt.Errorf("present: glCompileShader(%s): %s", name, infoLog(sh, false))
		}
		return sh, nil
	}
	v, err := compile(gl.VERTEX_SHADER, vs, "vertex")
	if err != nil {
		return 0, err
	}
	f, err := compile(gl.FRAGMENT_SHADER, fs, "fragment")
	if err != nil {
		return 0, err
	}
	prog := gl.CreateProgram()
	gl.AttachShader(prog, v)
	gl.AttachShader(prog, f)
	gl.LinkProgram(prog)
	gl.DeleteShader(v)
	gl.DeleteShader(f)
	var ok int32
	gl.GetProgramiv(prog, gl.LINK_STATUS, &ok)
	if ok == gl.FALSE {
		return 0, fmt.Errorf("present: glLinkProgram: %s", infoLog(prog, true))
	}
	return prog, glCheck("glLinkProgram")
}

func infoLog(obj uint32, isProgram bool) string {
	var n int32
	if isProgram {
		gl.GetProgramiv(obj, gl.INFO_LOG_LENGTH, &n)
	} else {
		gl.GetShaderiv(obj, gl.INFO_LOG_LENGTH, &n)
	}
	if n < 1 {
		return "(no log)"
	}
	buf := make([]byte, n+1)
	if isProgram {
		gl.GetProgramInfoLog(obj, n, nil, &buf[0])
	} else {
		gl.GetShaderInfoLog(obj, n, nil, &buf[0])
	}
	return gl.GoStr(&buf[0])
}

// glCheck returns the pending GL error, naming the call that raised it.
func glCheck(call string) error {
	if e := gl.GetError(); e != gl.NO_ERROR {
		return glError(call, e)
	}
	return nil
}

func glError(call string, e uint32) error {
	names := map[uint32]string{
		gl.INVALID_ENUM: "GL_INVALID_ENUM", gl.INVALID_VALUE: "GL_INVALID_VALUE",
		gl.INVALID_OPERATION: "GL_INVALID_OPERATION", gl.OUT_OF_MEMORY: "GL_OUT_OF_MEMORY",
		gl.INVALID_FRAMEBUFFER_OPERATION: "GL_INVALID_FRAMEBUFFER_OPERATION",
	}
	name, ok := names[e]
	if !ok {
		name = fmt.Sprintf("GL error 0x%x", e)
	}
	return fmt.Errorf("present: %s: %s", call, name)
}

// Present shows frame (the stimulus grid, contrast, row-major, as stimulus.Source fills it):
// it uploads and draws it with the toggled photodiode patch, waits for the frame's turn
// (pacing), swaps, and returns the flip. It allocates nothing. A frame of the wrong length
// panics (a wiring error); GL failures are errors naming the call.
func (p *Presenter) Present(frame []float32) (Flip, error) { return p.present(frame, nil) }

// PresentCapture is Present that also reads back the drawn frame, exactly as it is swapped to
// the screen, into img (the target's size, top row first).
func (p *Presenter) PresentCapture(frame []float32, img *image.RGBA) (Flip, error) {
	if img == nil || img.Rect.Dx() != p.screenW || img.Rect.Dy() != p.screenH || img.Stride != 4*p.screenW {
		return Flip{}, fmt.Errorf("present: capture: want a %dx%d image", p.screenW, p.screenH)
	}
	return p.present(frame, img)
}

// cleanFrames is how many frames after Open repaint the whole target with the background; later
// frames draw only the stimulus rectangle and the patch. Three covers every swap chain in use
// (copy, double and triple buffering); a driver that discards the back buffer at every swap
// (rare; EGL_BUFFER_DESTROYED on some compositors) would need it every frame.
const cleanFrames = 3

var errClosed = errors.New("present: presenter is closed")

func (p *Presenter) present(frame []float32, img *image.RGBA) (Flip, error) {
	if p.closed {
		return Flip{}, errClosed
	}
	if len(frame) != p.w*p.h {
		panic("present: Present: frame length is not the stimulus grid's height*width")
	}
	gl.TexSubImage2D(gl.TEXTURE_2D, 0, 0, 0, int32(p.w), int32(p.h), gl.RED, gl.FLOAT, unsafe.Pointer(&frame[0]))
	if e := gl.GetError(); e != gl.NO_ERROR {
		return Flip{}, glError("glTexSubImage2D", e)
	}
	// The stimulus through the LUT into the grid framebuffer.
	gl.BindFramebuffer(gl.FRAMEBUFFER, p.gridFBO)
	gl.Viewport(0, 0, int32(p.w), int32(p.h))
	gl.Uniform1i(p.uMode, 0)
	gl.DrawArrays(gl.TRIANGLES, 0, 3)
	if e := gl.GetError(); e != gl.NO_ERROR {
		return Flip{}, glError("glDrawArrays(stimulus)", e)
	}
	if err := p.drawTarget(); err != nil {
		return Flip{}, err
	}
	// Scaled onto the screen by nearest neighbour: a whole number of screen pixels per stimulus
	// pixel, sampled at screen-pixel centres.
	gl.BindFramebuffer(gl.READ_FRAMEBUFFER, p.gridFBO)
	gl.BlitFramebuffer(0, 0, int32(p.w), int32(p.h), p.blit[0], p.blit[1], p.blit[2], p.blit[3], gl.COLOR_BUFFER_BIT, gl.NEAREST)
	gl.BindFramebuffer(gl.READ_FRAMEBUFFER, p.target)
	if e := gl.GetError(); e != gl.NO_ERROR {
		return Flip{}, glError("glBlitFramebuffer", e)
	}
	p.level ^= 1
	if err := p.drawPatch(1, float32(p.level)); err != nil {
		return Flip{}, err
	}
	return p.swap(img)
}

// PresentLevel shows the photodiode patch at drive level (0 black .. 1 full drive), written to
// the framebuffer as it is, not through the inverse-gamma table: calibration (retinad
// calibrate) measures the monitor's own response to drive levels, and a level of 0 or 1 is
// black or white whatever the table. Nothing else is drawn anew (the target keeps its last
// frame, or the background after Open). It is paced, swapped and reported as Present's frames
// are (Flip.Patch is 1 for a level of 0.5 or more), and allocates nothing.
func (p *Presenter) PresentLevel(level float64) (Flip, error) {
	if p.closed {
		return Flip{}, errClosed
	}
	if !(level >= 0 && level <= 1) {
		return Flip{}, fmt.Errorf("present: PresentLevel(%v): want a drive level from 0 to 1", level)
	}
	if err := p.drawTarget(); err != nil {
		return Flip{}, err
	}
	p.level = 0
	if level >= 0.5 {
		p.level = 1
	}
	if err := p.drawPatch(2, float32(level)); err != nil {
		return Flip{}, err
	}
	return p.swap(nil)
}

// drawTarget binds the target for drawing, repainting it with the background for the first
// cleanFrames frames.
func (p *Presenter) drawTarget() error {
	gl.BindFramebuffer(gl.FRAMEBUFFER, p.target)
	gl.Viewport(0, 0, int32(p.screenW), int32(p.screenH))
	gl.Uniform1i(p.uMode, 1)
	if p.clean > 0 {
		p.clean--
		gl.Uniform1f(p.uLum, p.background)
		gl.DrawArrays(gl.TRIANGLES, 0, 3)
		if e := gl.GetError(); e != gl.NO_ERROR {
			return glError("glDrawArrays(background)", e)
		}
	}
	return nil
}

// drawPatch draws the photodiode patch in shader mode (1: luminance through the table, 2: drive
// level) at v.
func (p *Presenter) drawPatch(mode int32, v float32) error {
	gl.Enable(gl.SCISSOR_TEST)
	gl.Scissor(p.patch[0], p.patch[1], p.patch[2], p.patch[3])
	gl.Uniform1i(p.uMode, mode)
	gl.Uniform1f(p.uLum, v)
	gl.DrawArrays(gl.TRIANGLES, 0, 3)
	gl.Disable(gl.SCISSOR_TEST)
	if e := gl.GetError(); e != gl.NO_ERROR {
		return glError("glDrawArrays(patch)", e)
	}
	return nil
}

// swap reads the drawn frame back (into img, and the patch's centre pixel for Options.OnPatch),
// waits for the frame's turn, swaps and returns the flip.
func (p *Presenter) swap(img *image.RGBA) (Flip, error) {
	if img != nil {
		gl.ReadPixels(0, 0, int32(p.screenW), int32(p.screenH), gl.RGBA, gl.UNSIGNED_BYTE, unsafe.Pointer(&img.Pix[0]))
		if e := gl.GetError(); e != gl.NO_ERROR {
			return Flip{}, glError("glReadPixels", e)
		}
		for y := 0; y < p.screenH/2; y++ { // GL's rows start at the bottom
			a := img.Pix[y*img.Stride : (y+1)*img.Stride]
			b := img.Pix[(p.screenH-1-y)*img.Stride : (p.screenH-y)*img.Stride]
			copy(p.row, a)
			copy(a, b)
			copy(b, p.row)
		}
	}
	if p.onPatch != nil {
		gl.ReadPixels(p.patch[0]+p.patch[2]/2, p.patch[1]+p.patch[3]/2, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, unsafe.Pointer(&p.px[0]))
		if e := gl.GetError(); e != gl.NO_ERROR {
			return Flip{}, glError("glReadPixels(patch)", e)
		}
	}
	clockPaced := p.pace != PaceNone && !p.vsync
	missed, at := 0, int64(0)
	if clockPaced && p.grid.started() {
		gl.Finish() // the frame is ready once drawn: only then can it take a refresh
		at, missed = p.grid.wait(p.clock)
	}
	if p.win != nil {
		p.win.win.SwapBuffers()
	}
	gl.Finish()
	now := p.clock.Now()
	if e := gl.GetError(); e != gl.NO_ERROR {
		return Flip{}, glError("SwapBuffers/glFinish", e)
	}
	if p.win != nil {
		glfw.PollEvents()
	}
	switch {
	case p.vsync:
		missed = p.vsyncFlip(now)
	case at != 0:
		// The simulated monitor flips at its refresh; the swap returning later is this thread
		// being scheduled, which a vsync'd monitor's flip does not wait for.
		now = at
	case clockPaced:
		p.grid.start(now) // the first flip paced from the clock
	}
	f := Flip{HostNS: now, Patch: p.level, Missed: missed}
	p.missed += uint64(missed)
	p.last = now
	p.frames++
	if p.onPatch != nil {
		p.onPatch(now, p.px[0])
	}
	return f, nil
}

// vsyncFlip accounts for a flip at now whose swap was to wait for the monitor: the refreshes
// missed before it, from the swap times; after three flips in a row faster than half a frame, it
// gives up on vsync and starts the clock's refresh grid at this flip.
func (p *Presenter) vsyncFlip(now int64) (missed int) {
	if p.last == 0 {
		return 0
	}
	dt := now - p.last
	if dt < p.hold/2 {
		p.fast++
	} else {
		p.fast = 0
	}
	if p.fast == 3 {
		p.vsync = false
		p.grid.start(now)
		p.log.Warn("present: vsync does not wait here (Xvfb or the driver ignores the swap interval); pacing frames from the clock")
		return 0
	}
	return missedSwaps(dt, p.period, p.ratio)
}

// Missed is the number of monitor refreshes missed since Open: frames shown after their due
// refresh, from the swap times with vsync, from the refresh grid when paced from the clock.
func (p *Presenter) Missed() uint64 { return p.missed }

// Frames is the number of frames presented since Open.
func (p *Presenter) Frames() uint64 { return p.frames }

// ShouldClose reports whether the user asked to close the window (always false offscreen).
func (p *Presenter) ShouldClose() bool { return p.win != nil && !p.closed && p.win.win.ShouldClose() }

// Close releases the GL objects and the window or context. It is idempotent.
func (p *Presenter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	gl.DeleteTextures(1, &p.frameTex)
	gl.DeleteTextures(1, &p.lutTex)
	gl.DeleteTextures(1, &p.gridTex)
	gl.DeleteFramebuffers(1, &p.gridFBO)
	gl.DeleteVertexArrays(1, &p.vao)
	gl.DeleteProgram(p.prog)
	if p.fbo != 0 {
		gl.DeleteFramebuffers(1, &p.fbo)
		gl.DeleteRenderbuffers(1, &p.rbo)
	}
	err := glCheck("Close")
	p.release()
	return err
}

func (p *Presenter) release() {
	if p.win != nil {
		p.win.close()
	}
	if p.egl != nil {
		p.egl.close()
	}
}
