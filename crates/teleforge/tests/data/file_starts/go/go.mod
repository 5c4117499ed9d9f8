module example.com/filestarts

go 1.21
