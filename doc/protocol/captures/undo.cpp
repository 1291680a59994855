extern "C" int printf(const char*,...);
int a = 1;
int b = printf("b\n");
%undo
int b = printf("b again\n");
%quit
