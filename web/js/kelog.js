/*
 * kelog.js - the audit log's Merkle tree in the browser (docs/audit.md,
 * RFC 9162 section 2.1; the same rules as lib/ke_merkle.c): the tree hash,
 * and verification of inclusion and consistency proofs, so that a page can
 * hold the server to one log view as escrowctl does.
 *
 * Hashes are SHA-256 through WebCrypto; every length and index is checked
 * and a proof whose length is not the one fixed by its sizes is refused.
 */
import { KeError, concat, sha256, equalBytes } from './kecrypto.js';

const fail = (code, msg) => { throw new KeError(code, msg); };
const utf8 = new TextEncoder();

export const leafHash = (leaf) =>
  sha256(concat(Uint8Array.of(0), typeof leaf === 'string' ? utf8.encode(leaf) : leaf));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

function checkHashes(path) {
  if (!Array.isArray(path) || path.length > 64) fail('format', 'a proof has at most 64 hashes');
  for (const h of path)
    if (!(h instanceof Uint8Array) || h.length !== 32) fail('format', 'a hash is 32 bytes');
}

function checkSize(v) {
  if (!Number.isSafeInteger(v) || v < 0) fail('format', 'a tree size is a non-negative integer');
}

/* MTH of the leaves (strings or bytes), RFC 9162 2.1.1. */
export async function treeHash(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  let level = await Promise.all(leaves.map(leafHash));
  return rootOf(level);
}

async function rootOf(hashes) {
  if (hashes.length === 1) return hashes[0];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2; /* the largest power of two below n */
  return nodeHash(await rootOf(hashes.slice(0, k)), await rootOf(hashes.slice(k)));
}

/* true iff `path` proves leaf hash `leaf` at `index` in the tree of `size`
 * leaves with root `root` (RFC 9162 2.1.3.2). */
export async function verifyInclusion(leaf, index, size, path, root) {
  checkSize(index);
  checkSize(size);
  checkHashes(path);
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/* true iff `path` proves that the tree (from, fromRoot) is a prefix of
 * (to, toRoot) (RFC 9162 2.1.4.2).  Equal sizes need equal roots and an
 * empty path; from = 0 needs fromRoot to be the empty tree's. */
export async function verifyConsistency(from, to, fromRoot, toRoot, path) {
  checkSize(from);
  checkSize(to);
  checkHashes(path);
  if (from > to) return false;
  if (from === 0)
    return path.length === 0 && equalBytes(fromRoot, await sha256(new Uint8Array(0)));
  if (from === to) return path.length === 0 && equalBytes(fromRoot, toRoot);
  if (path.length === 0) return false;
  let odd = from;
  while (odd % 2 === 0) odd /= 2;
  /* A power-of-two old tree is a subtree of the new one: its root heads the proof. */
  const proof = odd === 1 ? [fromRoot, ...path] : path;
  let fn = from - 1, sn = to - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = proof[0], sr = proof[0];
  for (const c of proof.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, fromRoot) && equalBytes(sr, toRoot);
}
