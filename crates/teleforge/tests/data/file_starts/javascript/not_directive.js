'use strict'
+function () { console.log('not_directive', (function () { return this })() === undefined) }()
