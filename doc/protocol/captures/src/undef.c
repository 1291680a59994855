extern int no_such_function_xyz(void);
int main(void) { return no_such_function_xyz(); }
