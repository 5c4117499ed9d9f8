#!/usr/bin/env node
'use strict'
import { join } from 'node:path'
export function joined(a) { return join(a, 'b') }
console.log('esm_hashbang', joined('a'))
