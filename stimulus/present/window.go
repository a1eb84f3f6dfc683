package present

import (
	"fmt"
	"os"
	"time"

	"github.com/go-gl/glfw/v3.3/glfw"

	"retinad/configs"
)

// haveDisplay says whether a window system may be reachable. GLFW's Init without one returns
// nil and only logs, and the next call panics, so the presenter checks first.
func haveDisplay() bool { return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" }

// glfwWindow is a GLFW window with an OpenGL 3.3 core context, current on the calling thread.
type glfwWindow struct {
	win *glfw.Window
}

func openWindow(d configs.Display, title string) (w *glfwWindow, err error) {
	if !haveDisplay() {
		return nil, fmt.Errorf("present: display.mode window: no DISPLAY or WAYLAND_DISPLAY in the environment")
	}
	// GLFW reports most errors by panicking; turn them into this function's error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("present: glfw: %v", r)
		}
	}()
	if err := initGLFW(); err != nil {
		return nil, err
	}
	monitors := glfw.GetMonitors()
	if d.Monitor >= len(monitors) {
		glfw.Terminate()
		return nil, fmt.Errorf("present: display.monitor %d: only %d monitor(s)", d.Monitor, len(monitors))
	}
	glfw.WindowHint(glfw.ContextVersionMajor, 3)
	glfw.WindowHint(glfw.ContextVersionMinor, 3)
	glfw.WindowHint(glfw.OpenGLProfile, glfw.OpenGLCoreProfile)
	glfw.WindowHint(glfw.OpenGLForwardCompatible, glfw.True)
	glfw.WindowHint(glfw.Resizable, glfw.False)
	glfw.WindowHint(glfw.DoubleBuffer, glfw.True)
	var win *glfw.Window
	if d.Fullscreen {
		m := monitors[d.Monitor]
		mode := m.GetVideoMode()
		glfw.WindowHint(glfw.RefreshRate, mode.RefreshRate)
		win, err = glfw.CreateWindow(mode.Width, mode.Height, title, m, nil)
	} else {
		win, err = glfw.CreateWindow(d.Width, d.Height, title, nil, nil)
		if err == nil && d.Monitor > 0 {
			x, y := monitors[d.Monitor].GetPos()
			win.SetPos(x, y)
		}
	}
	if err != nil {
		glfw.Terminate()
		return nil, fmt.Errorf("present: glfw.CreateWindow: %w", err)
	}
	win.MakeContextCurrent()
	return &glfwWindow{win: win}, nil
}

func (w *glfwWindow) size() (int, int) { return w.win.GetFramebufferSize() }

func (w *glfwWindow) close() {
	w.win.Destroy()
	glfw.Terminate()
}

// initGLFW initialises GLFW, trying again when it could not connect to the display. GLFW's Init
// only logs a platform error ("X11: Failed to open display") and returns nil; the next call then
// panics. An X server starved of CPU (Xvfb with many clients connecting at once) refuses a
// connection now and then and takes it a moment later, so a few tries over about 1.5 s tell
// that apart from a display that is not there.
func initGLFW() error {
	for try := 0; ; try++ {
		if err := glfw.Init(); err != nil {
			return fmt.Errorf("present: glfw.Init: %w", err)
		}
		if glfwReady() {
			return nil
		}
		if try == 4 {
			return fmt.Errorf("present: display.mode window: cannot open the display %q (GLFW could not connect to it)", os.Getenv("DISPLAY"))
		}
		time.Sleep(time.Duration(100<<try) * time.Millisecond)
	}
}

// glfwReady reports whether GLFW's last Init connected: a call on an uninitialised GLFW panics.
func glfwReady() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	glfw.GetPrimaryMonitor()
	return true
}
