module example.com/case

go 1.21
