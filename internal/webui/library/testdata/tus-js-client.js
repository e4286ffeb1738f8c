// Uploads a file with tus-js-client (the console's uploader) in node, retrying as the console does, in
// chunks of chunkSize when given. Prints {"url", "offsets"}: the upload's URL and the offsets the server
// acknowledged.
'use strict';
const cfg = JSON.parse(process.argv[2]);
const tus = require(cfg.nodeModules + '/tus-js-client');
const data = require('fs').readFileSync(cfg.file);

const offsets = [];
const up = new tus.Upload(data, {
  endpoint: cfg.endpoint,
  headers: cfg.headers,
  metadata: cfg.metadata,
  ...(cfg.chunkSize ? { chunkSize: cfg.chunkSize } : {}),
  retryDelays: [0, 200, 500],
  storeFingerprintForResuming: false,
  onChunkComplete: (_chunk, accepted) => offsets.push(accepted),
  onError: (err) => {
    process.stderr.write(String(err) + '\n');
    process.exit(1);
  },
  onSuccess: () => process.stdout.write(JSON.stringify({ url: up.url, offsets }) + '\n'),
});
up.start();
