package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"runtime"

	"retinad/configs"
	"retinad/stimulus"
	"retinad/stimulus/present"
)

// showCommand is `retinad show`, in the command table (main.go).
func showCommand() command {
	return command{
		name:    "show",
		args:    "--config FILE [--stimulus KIND] [--frames N] [--screenshot out.png]",
		summary: "preview a stimulus on the configured display, and save the screen of a frame as a PNG",
		run:     runShow,
	}
}

func runShow(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	cfgPath := fs.String("config", "", "config file (required)")
	kind := fs.String("stimulus", "", "stimulus kind, overriding stimulus.kind: gray, whitenoise, flicker, flash, grating, natural or movie")
	frames := fs.Int("frames", 0, "frames to show, then exit (0: until the window closes or Ctrl-C)")
	shot := fs.String("screenshot", "", "save the screen of the last frame (frame N of --frames N) to this PNG file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: want --config FILE and no arguments", errUsage)
	}
	if *frames < 0 || (*shot != "" && *frames < 1) {
		return fmt.Errorf("%w: --screenshot needs --frames N with N >= 1 (the frame to save)", errUsage)
	}
	cfg, err := configs.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *kind != "" {
		cfg.Stimulus.Kind = *kind
	}
	src, err := stimulus.New(cfg.Stimulus)
	if err != nil {
		return err
	}
	if n := src.Len(); n > 0 && (*frames == 0 || *frames > n) {
		*frames = n
	}

	// GL stays on this OS thread (already locked in main's init; locked again for in-process callers).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := present.Open(cfg.Display, cfg.Stimulus, present.Options{Log: e.log, Title: "retinad show: " + cfg.Stimulus.Kind})
	if err != nil {
		return err
	}
	defer p.Close()
	h, w := src.Size()
	frame := make([]float32, h*w)
	var img *image.RGBA
	if *shot != "" {
		sw, sh := p.Size()
		img = image.NewRGBA(image.Rect(0, 0, sw, sh))
	}
	i := 0
	for ; *frames == 0 || i < *frames; i++ {
		if ctx.Err() != nil || p.ShouldClose() {
			break
		}
		src.Frame(i, frame)
		if img != nil && i == *frames-1 {
			_, err = p.PresentCapture(frame, img)
		} else {
			_, err = p.Present(frame)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "showed %d %s frame(s) on the %s (%d refresh(es) each), %d refresh(es) missed\n",
		i, cfg.Stimulus.Kind, p.Mode(), p.RefreshesPerFrame(), p.Missed())
	if img != nil && i == *frames {
		if err := writePNG(*shot, img); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "saved frame %d to %s\n", *frames, *shot)
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("show: screenshot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("show: screenshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("show: screenshot: %w", err)
	}
	return nil
}
