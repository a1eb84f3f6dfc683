package present

// The vertex shader draws one triangle that covers the whole target (no vertex buffer: the
// corners come from gl_VertexID).
const vertexShader = `#version 330 core
void main() {
	vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
	gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
` + "\x00"

// The fragment shader decides every screen pixel: the photodiode patch, else the stimulus grid
// scaled by nearest neighbour into rect (integer arithmetic, so every grid pixel covers exactly
// rect/grid screen pixels), else the background; luminance -> drive level through the
// inverse-gamma table.
const fragmentShader = `#version 330 core
uniform sampler2D frame;  // R32F, grid.x by grid.y texels, contrast; texel row 0 = stimulus row 0 (top)
uniform sampler2D lut;    // R32F, lutSize by 1: drive level for luminance k/(lutSize-1)
uniform int lutSize;
uniform int screenH;      // target height, pixels
uniform ivec4 rect;       // stimulus rectangle: x, y from the top-left corner, width, height
uniform ivec2 grid;       // stimulus grid: width, height
uniform ivec4 patchRect;  // photodiode patch: x, y from the top-left corner, width, height
uniform float patchLevel; // patch luminance, 0 or 1
uniform float background; // luminance outside the stimulus
uniform float mean;       // stimulus mean luminance; contrast c shows mean*(1+c)
out vec4 color;
void main() {
	ivec2 px = ivec2(int(gl_FragCoord.x), screenH - 1 - int(gl_FragCoord.y));
	float lum = background;
	ivec2 r = px - rect.xy;
	if (r.x >= 0 && r.y >= 0 && r.x < rect.z && r.y < rect.w) {
		float c = texelFetch(frame, ivec2(r.x * grid.x / rect.z, r.y * grid.y / rect.w), 0).r;
		lum = clamp(mean * (1.0 + c), 0.0, 1.0);
	}
	ivec2 q = px - patchRect.xy;
	if (q.x >= 0 && q.y >= 0 && q.x < patchRect.z && q.y < patchRect.w) {
		lum = patchLevel;
	}
	float d = texelFetch(lut, ivec2(int(lum * float(lutSize - 1) + 0.5), 0), 0).r;
	color = vec4(d, d, d, 1.0);
}
` + "\x00"
