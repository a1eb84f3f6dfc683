package present

// The vertex shader draws one triangle that covers the whole viewport (no vertex buffer: the
// corners come from gl_VertexID).
const vertexShader = `#version 330 core
void main() {
	vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
	gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
` + "\x00"

// The fragment shader turns luminance into drive levels through the inverse-gamma table. In
// mode 0 it draws the stimulus grid one fragment per stimulus pixel (into the grid-sized
// framebuffer that is then scaled onto the screen): luminance mean*(1+contrast), clamped. In mode
// 1 it draws the constant luminance lum (background, photodiode patch). In mode 2 lum is a drive
// level, written as it is (PresentLevel: calibration measures the monitor's own response).
const fragmentShader = `#version 330 core
uniform sampler2D frame;  // R32F, grid.x by grid.y texels, contrast; texel row 0 = stimulus row 0 (top)
uniform sampler2D lut;    // R32F, lutSize by 1: drive level for luminance k/(lutSize-1)
uniform int lutSize;
uniform ivec2 grid;       // stimulus grid: width, height
uniform float mean;       // stimulus mean luminance
uniform int mode;         // 0: stimulus grid; 1: constant luminance lum; 2: constant drive level lum
uniform float lum;
out vec4 color;
void main() {
	float l = lum;
	if (mode == 2) {
		color = vec4(lum, lum, lum, 1.0);
		return;
	}
	if (mode == 0) {
		ivec2 px = ivec2(gl_FragCoord.xy);
		float c = texelFetch(frame, ivec2(px.x, grid.y - 1 - px.y), 0).r;
		l = clamp(mean * (1.0 + c), 0.0, 1.0);
	}
	float d = texelFetch(lut, ivec2(int(l * float(lutSize - 1) + 0.5), 0), 0).r;
	color = vec4(d, d, d, 1.0);
}
` + "\x00"
