! test_errstop.f90: without `stat`, a failure stops the program with the
! library's message (test_fortran_errors.sh requires a non-zero exit and the
! message on stderr).
program test_errstop
  use oeq
  implicit none
  type(oeq_problem) :: p
  call p%create('1x0e', '1x0e', 'not irreps at all')
  write(*, '(a)') 'UNREACHABLE: create did not stop'
end program test_errstop
