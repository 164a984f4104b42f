// dsatrain: train | eval | sample | prepare | export | import | bench
#include <cstdio>

int main() {
  std::puts("dsatrain: under construction");
  return 0;
}
