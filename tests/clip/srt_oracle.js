// Reads one DJI .SRT with DJI_SRT_Parser (npm, the independent reader the SRT tests compare
// ours with) and prints its packets as JSON: {"packets": [...]} or {"packets": null, "error"}.
// Smoothing is off (the parser averages positions over +-4 samples by default).
const fs = require('fs');
const parse = require('dji_srt_parser');

const path = process.argv[2];
const errors = [];
console.error = (...args) => errors.push(args.join(' ')); // the parser reports failures here
const data = parse(fs.readFileSync(path, 'utf8'), path);
const meta = data ? data.setSmoothing(0) : null;
const version = require('dji_srt_parser/package.json').version;
process.stdout.write(
  JSON.stringify({ version, packets: meta ? meta.packets : null, error: errors.join('; ') || null })
);
