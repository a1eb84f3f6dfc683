// Package present puts stimulus frames on the rig monitor through OpenGL 3.3 core: a GLFW
// window (go-gl/glfw v3.3) on a chosen monitor, fullscreen or windowed, or an offscreen target
// for headless runs (EGL on Mesa's surfaceless platform: no X server at all, drawing into a
// framebuffer object). display.mode auto takes a window when DISPLAY or WAYLAND_DISPLAY is set
// and a window opens, and offscreen otherwise.
//
// Each frame, Present uploads the stimulus grid (float32 contrast, H*W, row-major, top row
// first) into an R32F texture and draws one triangle covering the target. The fragment shader
// maps every screen pixel: inside display.rect to stimulus pixel (x*W/rect.width,
// y*H/rect.height) in integer arithmetic (nearest neighbour, each stimulus pixel exactly
// rect/grid screen pixels), showing luminance mean*(1+contrast) clamped to [0, 1]; elsewhere
// display.background; in the photodiode patch (display.patch corner and size) luminance 1 or 0,
// toggled on every new frame (the first frame is white). Luminance L becomes the drive level
// lut[round(L*(LUTSize-1))] of the inverse-gamma table (InverseGamma: L^(1/exponent), or the
// inverse of a measured table), written to the 8-bit framebuffer. PresentLevel (retinad
// calibrate on a real rig) draws only the patch, at a drive level written as it is, not through
// the table: calibration measures the monitor's own response. Options.OnPatch reads the patch's
// drive back at every flip (tests light a simulated photodiode with it).
//
// Pacing: each stimulus frame is held for refresh/frame_rate refreshes, a whole number (Open
// refuses others). With a window and display.vsync on, the swap interval is that number, and a
// flip more than ratio+0.5 refreshes after the previous one missed round(dt/period)-ratio
// refreshes (the photodiode confirms them in calib). If the swaps turn out not to wait (three
// flips in a row faster than half a frame, as under Xvfb), or without vsync, the presenter
// simulates the monitor from the clock: refreshes on a fixed grid t0 + k*period (t0 the first
// clock-paced flip); a drawn frame (glFinish returned) sleeps until its due refresh, the
// previous frame's plus the hold, and swaps; a frame drawn after that refresh is swapped at the
// first refresh after it is ready and counts the refreshes in between as missed. The swap and
// finish times stay out of the schedule, so the frame rate is the configured one, with no drift,
// and such a flip is stamped at its refresh (Flip.HostNS), as the simulated monitor shows it.
//
// Threading: every method must be called from the one OS thread that called Open (in retinad,
// the main goroutine, whose thread cmd/retinad locks in init). Present allocates nothing.
// Times are host monotonic nanoseconds (CLOCK_MONOTONIC, clock.System), from the
// injected clock.Clock (Options.Clock); pacing sleeps on it with clock.SleepUntil.
package present
