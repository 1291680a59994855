        .text
        .globl  main
        .p2align 4
main:
        movl    $7, %eax
        retq
        .data
        .globl  ptr
        .p2align 3
ptr:
        .quad   main
# jitlink-check: *{8}ptr = main
