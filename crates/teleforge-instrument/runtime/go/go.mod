module teleforge.dev/tel

go 1.18
