// Node's Buffer for the answers validators (ssh key and base64 checks), injected into the page's
// bundle: the npm package (a file path in it, so Node never resolves its own built-in instead).
export { Buffer } from 'buffer/index.js';
