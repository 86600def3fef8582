/*
 * floor_true: the smallest process (bench/floor/process_floor.c starts it):
 * what fork+exec, the dynamic loader and exit cost with libc alone.
 */
int main(void)
{
    return 0;
}
