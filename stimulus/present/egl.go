package present

/*
#cgo pkg-config: egl
#include <stdlib.h>
#include <EGL/egl.h>
#include <EGL/eglext.h>

#ifndef EGL_PLATFORM_SURFACELESS_MESA
#define EGL_PLATFORM_SURFACELESS_MESA 0x31DD
#endif

// retinad_egl_open makes a surfaceless OpenGL 3.3 core context current on this thread.
// It returns 0 or the number of the step that failed (and *err the EGL error).
static int retinad_egl_open(EGLDisplay *dpy, EGLContext *ctx, EGLint *err) {
	PFNEGLGETPLATFORMDISPLAYEXTPROC getPlatformDisplay =
		(PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	*err = EGL_SUCCESS;
	if (!getPlatformDisplay) return 1;
	*dpy = getPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
	if (*dpy == EGL_NO_DISPLAY) { *err = eglGetError(); return 2; }
	EGLint major, minor;
	if (!eglInitialize(*dpy, &major, &minor)) { *err = eglGetError(); return 3; }
	if (!eglBindAPI(EGL_OPENGL_API)) { *err = eglGetError(); return 4; }
	EGLint cfgAttrs[] = { EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE };
	EGLConfig cfg; EGLint n = 0;
	if (!eglChooseConfig(*dpy, cfgAttrs, &cfg, 1, &n) || n < 1) { *err = eglGetError(); return 5; }
	EGLint ctxAttrs[] = {
		EGL_CONTEXT_MAJOR_VERSION, 3, EGL_CONTEXT_MINOR_VERSION, 3,
		EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
		EGL_NONE };
	*ctx = eglCreateContext(*dpy, cfg, EGL_NO_CONTEXT, ctxAttrs);
	if (*ctx == EGL_NO_CONTEXT) { *err = eglGetError(); return 6; }
	if (!eglMakeCurrent(*dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, *ctx)) { *err = eglGetError(); return 7; }
	return 0;
}

static void retinad_egl_close(EGLDisplay dpy, EGLContext ctx) {
	eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
	eglDestroyContext(dpy, ctx);
	eglTerminate(dpy);
}

static void *retinad_egl_proc(const char *name) { return (void *)eglGetProcAddress(name); }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// eglSurfaceless is an offscreen OpenGL context with no window system at all (Mesa's
// EGL_MESA_platform_surfaceless); the presenter draws into a framebuffer object of its own.
type eglSurfaceless struct {
	dpy C.EGLDisplay
	ctx C.EGLContext
}

var eglSteps = [...]string{1: "eglGetProcAddress(eglGetPlatformDisplayEXT)", 2: "eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA)",
	3: "eglInitialize", 4: "eglBindAPI(EGL_OPENGL_API)", 5: "eglChooseConfig", 6: "eglCreateContext(OpenGL 3.3 core)", 7: "eglMakeCurrent(surfaceless)"}

func openEGL() (*eglSurfaceless, error) {
	e := &eglSurfaceless{}
	var code C.EGLint
	if step := C.retinad_egl_open(&e.dpy, &e.ctx, &code); step != 0 {
		return nil, fmt.Errorf("present: offscreen: %s failed (EGL error 0x%x)", eglSteps[step], int(code))
	}
	return e, nil
}

func eglProcAddress(name string) unsafe.Pointer {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.retinad_egl_proc(c)
}

func (e *eglSurfaceless) close() { C.retinad_egl_close(e.dpy, e.ctx) }
