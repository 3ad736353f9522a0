! test_final.f90: the final procedures free the handles.
!
! test_fortran_final.sh runs this under valgrind (--errors-for-leak-kinds=
! definite,indirect --error-exitcode): problems and plans are made in
! procedures and left to go out of scope, or deallocated, without %destroy().
! With the argument "leak" it also leaks one raw handle on purpose, so the
! script can show that the leak check does catch a leak.
program test_final
  use, intrinsic :: iso_c_binding
  use oeq
  implicit none
  character(len=16) :: mode
  integer :: i
  type(c_ptr) :: raw

  do i = 1, 3
    call scoped()
    call allocated_objects()
  end do
  call destroyed_twice()
  call get_command_argument(1, mode)
  if (mode == 'leak') then
    if (oeq_problem_create('1x0e' // c_null_char, '1x0e' // c_null_char, '1x0e' // c_null_char, &
        raw) /= OEQ_SUCCESS) error stop 1
  end if
  write(*, '(a)') 'done'

contains

  subroutine scoped()
    type(oeq_problem) :: p
    type(oeq_plan) :: tp, conv
    call p%create_channelwise('4x0e+4x1o', '0e+1o', '0e+1o')
    call tp%create_tp(p, OEQ_BACKEND_CPU)
    call conv%create_conv(p, OEQ_BACKEND_CPU)
    ! re-creating replaces (and frees) the previous handle
    call p%create_fully_connected('2x0e', '2x0e', '1x0e')
    call tp%create_tp(p, OEQ_BACKEND_CPU)
  end subroutine scoped

  subroutine allocated_objects()
    type(oeq_problem), allocatable :: p
    type(oeq_plan), allocatable :: plan
    allocate(p, plan)
    call p%create_fully_connected('2x0e+1x1o', '1x1o', '1x0e+1x1e')
    call plan%create_tp(p, OEQ_BACKEND_CPU)
    deallocate(p, plan)
  end subroutine allocated_objects

  subroutine destroyed_twice()
    type(oeq_problem) :: p
    call p%create('1x0e', '1x0e', '1x0e')
    call p%destroy()
    call p%destroy()
  end subroutine destroyed_twice
end program test_final
