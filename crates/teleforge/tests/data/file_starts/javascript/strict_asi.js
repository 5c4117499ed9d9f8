'use strict'
;[1, 2].forEach(function (x) { console.log('strict_asi', x, this === undefined) })
