// Node's Buffer for the answers validators (ssh key and base64 checks), injected into the page's bundle.
export { Buffer } from 'buffer';
