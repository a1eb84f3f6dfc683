package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestStimulusScaleFlag(t *testing.T) {
	for v, want := range map[string]string{"127.5,127.5": "127.5,127.5", " 0 , 255": "0,255", "-1,0.5": "-1,0.5"} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		o := stimulusScale(fs)
		if err := fs.Parse([]string{"--stimulus-scale", v}); err != nil || o.Scaling == nil || fs.Lookup("stimulus-scale").Value.String() != want {
			t.Errorf("%q: %v %+v", v, err, o.Scaling)
		}
	}
	for _, v := range []string{"1", "1,0", "a,2", "1,inf", "NaN,1", "1,2,3"} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := stimulusScale(fs)
		if err := fs.Parse([]string{"--stimulus-scale", v}); err == nil || !strings.Contains(err.Error(), "want OFFSET,SCALE") || o.Scaling != nil {
			t.Errorf("%q: %v, want a refusal", v, err)
		}
	}
}
