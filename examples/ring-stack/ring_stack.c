/* ring-stack: an example foreign stack under test, in C, for the harness's process adapter.
 *
 * It reads the stack input folder the harness writes (stack.txt and the tile corpus; never
 * ground truth), then the clip as the harness releases it on stdin (stack input version 2):
 * it skips the IMU and telemetry lines and, for each {"type":"frame","frame":i,...} line,
 * reads that frame from frames/NNNNNN.npy, written at its release. It writes one JSON object
 * per line on stdout (harness/process/stack-output.v2.schema.json): a `query` (top-5 tiles
 * and the descriptor itself, base64 float32) and a `fix` for each query frame, and a `state`
 * for every frame, each naming its frame.
 *
 * Place recognition: a rotation-invariant descriptor, the mean colour in 8 rings of 7.5 m
 * around the image centre (the nadir point; the frames turn with the heading, the tiles are
 * north-up, rings do not care). Tile candidates sit on a 10 m grid over each tile's central
 * 100 m square, so every point of the mapped area has one. The scale comes from the mission's
 * planned height above ground (--agl-m); a real stack would read its barometer.
 * Filter: a constant-velocity Kalman filter on north/east, started where two fixes in a
 * row agree, with chi-square gating of fixes (NIS <= 13.82). It does not use the IMU: a stack that
 * fuses it would do better, and the gates would say so.
 *
 * --fault KIND@FRAME misbehaves on purpose, for the adapter's own tests: malformed (a line
 * that is not JSON), crash (exit 3 after a message on stderr), exit (exit 0 before the
 * end), hang (stop answering),
 * early (a fix stamped 0.5 s before its frame).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RINGS 8
#define DIM (RINGS * 3)
#define RING_M 7.5
#define STEP_M 10.0
#define HALF_M 45.0
#define TOPK 5
#define NIS_GATE 13.82

typedef struct { unsigned char *data; long n, h, w; } Images;
typedef struct { char id[64]; double n, e; } Tile;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "ring-stack: %s: %s\n", what, detail);
    exit(2);
}

/* An .npy of uint8 (N, H, W, 3): skip the header, read the pixels. */
/* Base64 (RFC 4648, padded) of n floats as they lie in memory: little-endian on every
 * target this runs on (x86-64, aarch64), which is what stack output v2 asks for. */
#define BASE64_LEN(bytes) (((bytes) + 2) / 3 * 4 + 1)
static void base64_f32(const float *v, int n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = (const unsigned char *)v;
    long len = (long)n * (long)sizeof(float), o = 0;
    for (long i = 0; i < len; i += 3) {
        unsigned long w = (unsigned long)b[i] << 16;
        if (i + 1 < len) w |= (unsigned long)b[i + 1] << 8;
        if (i + 2 < len) w |= b[i + 2];
        out[o++] = abc[(w >> 18) & 63];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[w & 63] : '=';
    }
    out[o] = 0;
}

static Images read_npy_u8(const char *path, long n, long h, long w) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    unsigned char head[10];
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0) die(path, "not an .npy file");
    long header = head[8] | (head[9] << 8);
    if (head[6] >= 2) {
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) die(path, "short header");
        header |= ((long)more[0] << 16) | ((long)more[1] << 24);
        header += 2;
    }
    fseek(f, 10 + header, SEEK_SET);
    Images im = {malloc((size_t)(n * h * w * 3)), n, h, w};
    if (!im.data || fread(im.data, 1, (size_t)(n * h * w * 3), f) != (size_t)(n * h * w * 3))
        die(path, "fewer pixels than stack.txt says");
    fclose(f);
    return im;
}

/* Mean colour per ring around (cy, cx) [px] at mpp metres per pixel, centred and unit-norm. */
static void describe(const unsigned char *img, long h, long w, double cy, double cx, double mpp,
                     float *out) {
    double sum[DIM] = {0}, count[RINGS] = {0};
    long r_px = (long)ceil(RINGS * RING_M / mpp);
    double px_per_ring = mpp / RING_M;
    for (long y = (long)cy - r_px; y <= (long)cy + r_px; y++) {
        if (y < 0 || y >= h) continue;
        double dy2 = (y - cy) * (y - cy);
        for (long x = (long)cx - r_px; x <= (long)cx + r_px; x++) {
            if (x < 0 || x >= w) continue;
            /* sqrt, not hypot: no overflow to guard against here, and the start-up's descriptor
             * of every candidate spends most of its time on this line */
            int k = (int)(sqrt(dy2 + (x - cx) * (x - cx)) * px_per_ring);
            if (k >= RINGS) continue;
            const unsigned char *p = img + (y * w + x) * 3;
            for (int c = 0; c < 3; c++) sum[k * 3 + c] += p[c];
            count[k] += 1;
        }
    }
    double mean = 0, norm = 0;
    for (int i = 0; i < DIM; i++) {
        sum[i] = count[i / 3] > 0 ? sum[i] / count[i / 3] : 0;
        mean += sum[i] / DIM;
    }
    for (int i = 0; i < DIM; i++) norm += (sum[i] - mean) * (sum[i] - mean);
    norm = sqrt(norm) > 1e-9 ? sqrt(norm) : 1.0;
    for (int i = 0; i < DIM; i++) out[i] = (float)((sum[i] - mean) / norm);
}

/* The constant-velocity filter: x = (n, e, vn, ve). */
typedef struct { double x[4], P[4][4], t, pending[2]; int ready, has_pending; } Filter;

static void predict(Filter *f, double t, double q) {
    double dt = t - f->t;
    if (!f->ready || dt <= 0) { f->t = t > f->t ? t : f->t; return; }
    f->x[0] += dt * f->x[2];
    f->x[1] += dt * f->x[3];
    double P[4][4];
    memcpy(P, f->P, sizeof P);
    for (int a = 0; a < 2; a++) { /* P = F P F' + Q, per axis (position a, velocity a + 2) */
        int p = a, v = a + 2;
        double pp = P[p][p] + 2 * dt * P[p][v] + dt * dt * P[v][v];
        double pv = P[p][v] + dt * P[v][v];
        f->P[p][p] = pp + q * dt * dt * dt / 3;
        f->P[p][v] = f->P[v][p] = pv + q * dt * dt / 2;
        f->P[v][v] = P[v][v] + q * dt;
    }
    f->P[0][1] = f->P[1][0] = P[0][1] + dt * (P[0][3] + P[2][1]) + dt * dt * P[2][3];
    f->P[0][3] = f->P[3][0] = P[0][3] + dt * P[2][3];
    f->P[1][2] = f->P[2][1] = P[1][2] + dt * P[3][2];
    f->P[2][3] = f->P[3][2] = P[2][3];
    f->t = t;
}

/* Fuse a position fix; returns its NIS and whether it passed the gate. */
static int update(Filter *f, const double z[2], double sigma, double *nis) {
    if (!f->ready) { /* start only where two fixes in a row agree: one wrong tile is common */
        int agree = f->has_pending && hypot(z[0] - f->pending[0], z[1] - f->pending[1]) < 3 * sigma;
        f->pending[0] = z[0], f->pending[1] = z[1], f->has_pending = 1;
        *nis = 0;
        if (!agree) return 0;
        double t = f->t;
        memset(f, 0, sizeof *f);
        f->t = t;
        f->x[0] = z[0], f->x[1] = z[1];
        f->P[0][0] = f->P[1][1] = sigma * sigma;
        f->P[2][2] = f->P[3][3] = 15.0 * 15.0;
        f->ready = 1;
        return 1;
    }
    double y[2] = {z[0] - f->x[0], z[1] - f->x[1]}, r = sigma * sigma;
    double S00 = f->P[0][0] + r, S01 = f->P[0][1], S11 = f->P[1][1] + r;
    double det = S00 * S11 - S01 * S01;
    double i00 = S11 / det, i01 = -S01 / det, i11 = S00 / det;
    *nis = y[0] * (i00 * y[0] + i01 * y[1]) + y[1] * (i01 * y[0] + i11 * y[1]);
    if (*nis > NIS_GATE) return 0;
    double K[4][2], P[4][4];
    for (int i = 0; i < 4; i++) {
        K[i][0] = f->P[i][0] * i00 + f->P[i][1] * i01;
        K[i][1] = f->P[i][0] * i01 + f->P[i][1] * i11;
        f->x[i] += K[i][0] * y[0] + K[i][1] * y[1];
    }
    memcpy(P, f->P, sizeof P);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) f->P[i][j] = P[i][j] - K[i][0] * P[0][j] - K[i][1] * P[1][j];
    return 1;
}

int main(int argc, char **argv) {
    const char *input = getenv("HARNESS_STACK_INPUT");
    double agl_m = 300.0, rate_hz = 1.0, sigma_m = 25.0, accel_q = 1.0;
    char fault[16] = "";
    long fault_frame = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--input")) input = argv[i + 1];
        else if (!strcmp(argv[i], "--agl-m")) agl_m = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate-hz")) rate_hz = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--sigma-m")) sigma_m = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--fault")) sscanf(argv[i + 1], "%15[a-z]@%ld", fault, &fault_frame);
        else die("unknown option", argv[i]);
    }
    if (!input) die("no input", "give --input DIR or set HARNESS_STACK_INPUT");
    char path[4096], line[4096], key[64], val[1024], frames_dir[8192] = "", tiles_rgb[8192] = "";
    snprintf(path, sizeof path, "%s/stack.txt", input);
    FILE *meta = fopen(path, "r");
    if (!meta) die(path, strerror(errno));
    long frames = 0, fh = 0, fw = 0, ntiles = 0, tile_px = 0, version = 0, seen = 0;
    double fx = 0, cx = 0, cy = 0, tile_m = 0;
    Tile *tiles = NULL;
    while (fgets(line, sizeof line, meta)) {
        if (sscanf(line, "%63s %1023s", key, val) != 2) continue;
        if (!strcmp(key, "stack_input_version")) version = atol(val);
        else if (!strcmp(key, "frames")) frames = atol(val);
        else if (!strcmp(key, "frame_height")) fh = atol(val);
        else if (!strcmp(key, "frame_width")) fw = atol(val);
        else if (!strcmp(key, "frames_dir")) snprintf(frames_dir, sizeof frames_dir, "%s/%s", input, val);
        else if (!strcmp(key, "camera_fx")) fx = atof(val);
        else if (!strcmp(key, "camera_cx")) cx = atof(val);
        else if (!strcmp(key, "camera_cy")) cy = atof(val);
        else if (!strcmp(key, "tiles")) ntiles = atol(val), tiles = calloc((size_t)ntiles, sizeof *tiles);
        else if (!strcmp(key, "tile_px")) tile_px = atol(val);
        else if (!strcmp(key, "tile_size_m")) tile_m = atof(val);
        else if (!strcmp(key, "tiles_rgb")) snprintf(tiles_rgb, sizeof tiles_rgb, "%s/%s", input, val);
        else if (!strcmp(key, "tile") && tiles) {
            long i;
            Tile t;
            if (sscanf(line, "tile %ld %63s %lf %lf", &i, t.id, &t.n, &t.e) == 4 && i >= 0 && i < ntiles)
                tiles[i] = t, seen++;
        }
    }
    fclose(meta);
    if (version != 2) die(path, "stack_input_version is not 2; this stack reads version 2");
    if (!frames || !ntiles || seen != ntiles || !fx || !*frames_dir || !*tiles_rgb)
        die(path, "missing frames, camera or tiles");

    /* Every candidate position's descriptor, once: 10 m grid over each tile's central square. */
    Images timg = read_npy_u8(tiles_rgb, ntiles, tile_px, tile_px);
    int per_axis = (int)(2 * HALF_M / STEP_M) + 1, per_tile = per_axis * per_axis;
    long ncand = ntiles * per_tile;
    float *cand = malloc((size_t)ncand * DIM * sizeof(float));
    double tile_mpp = tile_m / tile_px;
    for (long t = 0; t < ntiles; t++)
        for (int a = 0; a < per_axis; a++)
            for (int b = 0; b < per_axis; b++) {
                double dn = -HALF_M + a * STEP_M, de = -HALF_M + b * STEP_M;
                describe(timg.data + t * tile_px * tile_px * 3, tile_px, tile_px,
                         tile_px / 2.0 - dn / tile_mpp, tile_px / 2.0 + de / tile_mpp, tile_mpp,
                         cand + ((t * per_tile) + a * per_axis + b) * DIM);
            }
    fprintf(stderr, "ring-stack: %ld tiles, %ld candidates, %ld frames; ready\n", ntiles, ncand, frames);
    printf("{\"type\": \"ready\", \"name\": \"ring-stack\", \"version\": \"1\"}\n");
    fflush(stdout);

    Filter filt = {0};
    double next_query = 0;
    long frame;
    double t_s;
    while (fgets(line, sizeof line, stdin)) {
        if (!strstr(line, "\"frame\"")) continue; /* IMU and telemetry: this stack uses neither */
        char *fp = strstr(line, "\"frame\":"), *tp = strstr(line, "\"t_s\"");
        if (!fp || !tp || sscanf(strchr(fp, ':') + 1, "%ld", &frame) != 1 ||
            sscanf(strchr(tp, ':') + 1, "%lf", &t_s) != 1 || frame < 0 || frame >= frames)
            die("bad frame tick on stdin", line);
        int faulty = frame == fault_frame;
        if (faulty && !strcmp(fault, "crash")) {
            fprintf(stderr, "ring-stack: segment table corrupt at frame %ld (injected crash)\n", frame);
            exit(3);
        }
        if (faulty && !strcmp(fault, "exit")) {
            fprintf(stderr, "ring-stack: stopping at frame %ld (injected exit)\n", frame);
            exit(0);
        }
        if (faulty && !strcmp(fault, "hang")) {
            fprintf(stderr, "ring-stack: waiting forever at frame %ld (injected hang)\n", frame);
            for (;;) pause();
        }
        predict(&filt, t_s, accel_q);
        if (t_s + 1e-9 >= next_query) {
            next_query += 1.0 / rate_hz;
            float d[DIM], best_tile[TOPK];
            long best_i[TOPK], best_c = 0;
            double best = -2;
            char frame_path[8300];
            snprintf(frame_path, sizeof frame_path, "%s/%06ld.npy", frames_dir, frame);
            Images fimg = read_npy_u8(frame_path, 1, fh, fw); /* written at its release */
            describe(fimg.data, fh, fw, cy, cx, agl_m / fx, d);
            free(fimg.data);
            for (int k = 0; k < TOPK; k++) best_tile[k] = -2, best_i[k] = -1;
            for (long t = 0; t < ntiles; t++) {
                float tile_best = -2;
                for (int c = 0; c < per_tile; c++) {
                    const float *v = cand + (t * per_tile + c) * DIM;
                    float s = 0;
                    for (int i = 0; i < DIM; i++) s += v[i] * d[i];
                    if (s > tile_best) tile_best = s;
                    if (s > best) best = s, best_c = t * per_tile + c;
                }
                for (int k = 0; k < TOPK; k++)
                    if (tile_best > best_tile[k]) {
                        memmove(best_tile + k + 1, best_tile + k, (TOPK - k - 1) * sizeof(float));
                        memmove(best_i + k + 1, best_i + k, (TOPK - k - 1) * sizeof(long));
                        best_tile[k] = tile_best, best_i[k] = t;
                        break;
                    }
            }
            char data[BASE64_LEN(DIM * sizeof(float))];
            base64_f32(d, DIM, data);
            printf("{\"type\": \"query\", \"frame\": %ld, \"t_s\": %.6f, \"topk\": [", frame, t_s);
            for (int k = 0; k < TOPK && best_i[k] >= 0; k++)
                printf("%s{\"tile\": \"%s\", \"score\": %.6f}", k ? ", " : "", tiles[best_i[k]].id, best_tile[k]);
            printf("], \"descriptor\": {\"dtype\": \"float32\", \"shape\": [%d], \"data\": \"%s\"}}\n",
                   DIM, data);
            long t = best_c / per_tile, c = best_c % per_tile;
            double z[2] = {tiles[t].n - HALF_M + (c / per_axis) * STEP_M,
                           tiles[t].e - HALF_M + (c % per_axis) * STEP_M};
            double nis;
            int accepted = update(&filt, z, sigma_m, &nis);
            double stamp = faulty && !strcmp(fault, "early") ? t_s - 0.5 : t_s;
            printf("{\"type\": \"fix\", \"frame\": %ld, \"t_s\": %.6f, \"z_ne_m\": [%.3f, %.3f], "
                   "\"sigma_m\": %.3f, \"source\": \"%s\", \"nis\": %.4f, \"accepted\": %s}\n",
                   frame, stamp, z[0], z[1], sigma_m, tiles[t].id, nis, accepted ? "true" : "false");
        }
        if (faulty && !strcmp(fault, "malformed")) printf("{\"type\": \"state\", \"t_s\": %.6f,\n", t_s);
        if (filt.ready)
            printf("{\"type\": \"state\", \"frame\": %ld, \"t_s\": %.6f, \"p_ned_m\": [%.3f, %.3f, %.3f], "
                   "\"v_ned_m_s\": [%.4f, %.4f, 0.0], \"P_hh\": [[%.4f, %.4f], [%.4f, %.4f]]}\n",
                   frame, t_s, filt.x[0], filt.x[1], -agl_m, filt.x[2], filt.x[3], filt.P[0][0],
                   filt.P[0][1], filt.P[1][0], filt.P[1][1]);
        fflush(stdout);
    }
    return 0;
}
