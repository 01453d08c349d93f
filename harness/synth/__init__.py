"""The deterministic synthetic Derkachi stand-in: terrain, flight, IMU, frames, tile corpora."""
