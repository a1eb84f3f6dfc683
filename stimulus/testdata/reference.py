"""Independent reference of the package doc's random streams and synthetic sources, in plain
Python: prints golden values that stimulus's tests compare with (go test ./stimulus -run Reference).
Run: /usr/bin/python3 stimulus/testdata/reference.py > stimulus/testdata/reference.json"""
import json, math, struct

M = (1 << 64) - 1

def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)

class Stream:
    def __init__(self, seed, tag, n):
        self.state = mix(seed ^ mix((tag << 56) | n))
    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M
        return mix(self.state)
    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53
    def sign(self):
        return 1.0 if self.next() >> 63 == 1 else -1.0
    def normal(self):
        u1 = self.uniform(); u2 = self.uniform()
        return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)

def f32(v):
    return struct.unpack('<f', struct.pack('<f', v))[0]

def clip(v):
    return f32(max(-1.0, min(1.0, v)))

def whitenoise(h, w, checker, contrast, gaussian, seed, i):
    s = Stream(seed, 1, i)
    out = [[0.0] * w for _ in range(h)]
    cw = (w + checker - 1) // checker
    for y in range(h):
        if y % checker:
            out[y] = list(out[y - 1]); continue
        row = [clip(contrast * (s.normal() if gaussian else s.sign())) for _ in range(cw)]
        out[y] = [row[x // checker] for x in range(w)]
    return [v for r in out for v in r]

def flicker(h, w, contrast, gaussian, seed, i):
    s = Stream(seed, 2, i)
    return [clip(contrast * (s.normal() if gaussian else s.sign()))] * (h * w)

def grating(h, w, period, speed, orientation, contrast, rate, i):
    a = orientation * math.pi / 180
    t = speed / rate * i
    return [clip(contrast * math.sin(2 * math.pi * ((x * math.cos(a) - y * math.sin(a)) / period - t)))
            for y in range(h) for x in range(w)]

raw = Stream(1234567, 0, 0)
raw.state = 1234567  # plain SplitMix64 seeded with 1234567, the published test vector
out = {
    "splitmix64_seed_1234567": [str(raw.next()) for _ in range(5)],
    "whitenoise_binary": {i: whitenoise(5, 7, 2, 1.0, False, 42, i) for i in (0, 1, 1000)},
    "whitenoise_gaussian": {i: whitenoise(5, 7, 3, 0.35, True, 42, i) for i in (0, 1, 1000)},
    "flicker_gaussian": {i: flicker(1, 1, 0.35, True, 7, i)[0] for i in range(8)},
    "flicker_binary": {i: flicker(1, 1, 0.5, False, 7, i)[0] for i in range(8)},
    "grating": {i: grating(4, 6, 5.0, 2.0, 30.0, 0.8, 100.0, i) for i in (0, 13)},
}
print(json.dumps(out, indent=1))
